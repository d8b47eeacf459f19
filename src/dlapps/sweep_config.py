"""The options of ``dlapps sweep`` (kept apart from dlapps.sweep so the top-level command line can declare them
without importing torch)."""

from __future__ import annotations

from dataclasses import dataclass

from dlapps.runner.options import Parallel, opt


@dataclass
class SweepConfig(Parallel):
    file: str = opt("", "The sweep file (TOML, or YAML with PyYAML).", cli=False)
    quick: bool = opt(False, "Apply the file's [quick] overrides (a small machine).")
    plan: bool = opt(False, "Run nothing: parse every point's command line (a misspelt option fails) and list the "
                            "points with their state (new, partial, complete, diverged, damaged).")
    select_by: str | None = opt(None, "adapt sweeps: report the point this validator picks (source_acc|entropy|im|"
                                      "snd|bnm|dev|target-val; default: the file's select-by, declared before it "
                                      "ran); every validator's pick, gap to the oracle and rank correlation are "
                                      "tabled anyway.", metavar="VALIDATOR")
    seeds: list[int] | None = opt(None, "Replace the file's seeds (the study's --seeds).", cli=False)
    select: list[str] | None = opt(None, "Run only these points (by name); finished others still aggregate.",
                                   cli=False)
    extra_seeds: dict[str, list[int]] | None = opt(None, "Point name -> seeds it runs beyond the file's (the "
                                                   "study's replacement seeds).", cli=False)

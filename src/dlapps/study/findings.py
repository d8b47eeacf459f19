"""The study report's "Findings": what the published runs say about why the study's DANN tables miss, every
number read from the runs' own files (the report stays a function of the study dir). Each finding names the
runs it reads; where those runs are not in the study dir, it says so instead of printing a number."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dlapps.apps import load_app
from dlapps.runner.report import markdown_table
from dlapps.study.verdict import mean_sd
from dlapps.sweep import read_metrics, status

EDGE_BAND = 0.00125  # λ·μ at or above which an epoch counts as 'near the base run's peak' (its peak: ~0.0013)


def _runs(sweep: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """point name ('' = base) -> seed -> metrics of the finished or stopped runs of a sweep dir."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    if not sweep.is_dir():
        return out
    for d in sorted(p for p in sweep.iterdir() if p.is_dir() and "-s" in p.name):
        if not status(d).finished:
            continue
        name, _, seed = d.name.rpartition("-s")
        m = read_metrics(d)
        if m is not None:  # the history in today's names, whichever dlapps wrote it
            m = {**m, "history": load_app("adapt").history(m)}
        if m is not None and seed.isdigit() and _readable(m):
            out.setdefault("" if name == "base" else name, {})[int(seed)] = m
    return out


def _readable(m: dict[str, Any]) -> bool:
    """A DANN run's metrics with what the findings read (a stopped run may have no final numbers)."""
    h = m.get("history")
    rows_ok = isinstance(h, list) and all(isinstance(r, dict) and {"lambda", "lr", "source.class_acc"} <= set(r)
                                          for r in h)
    return rows_ok and (bool(m.get("diverged")) or ("source" in m and "target" in m))


def _step(r: dict[str, Any]) -> float:
    return float(r["lambda"]) * float(r["lr"])


def reversed_step_table(out: Path) -> list[str]:
    """One epoch at a constant λ from the first step (diagnostics/reversed_step): which steps λ·μ train."""
    runs = _runs(out / "diagnostics" / "reversed_step")
    if not runs:
        return ["*The constant-λ diagnostic (`experiments/adapt_reversed_step.toml`) is not in this study dir.*", ""]
    rows = []
    for name, seeds in runs.items():
        opts = dict(kv.split("=") for kv in name.split(",")) if name else {}
        lam, lr = float(opts.get("lambda-start", 0)), float(opts.get("lr", 0.01))
        trained = [m for m in seeds.values() if not m.get("diverged") and m["source"]["class_acc"] >= 0.5]
        nan = sum(bool(m.get("diverged")) for m in seeds.values())
        chance = len(seeds) - nan - len(trained)
        accs = [m["source"]["class_acc"] for m in trained]
        acc = "—" if not accs else (f"{accs[0]:.2f}" if len(accs) == 1 else
                                    "{:.2f} ± {:.2f}".format(*mean_sd(accs)))
        why = ", ".join(f"{n} {w}" for n, w in ((nan, "NaN"), (chance, "at chance")) if n)
        rows.append([f"{lam:g}", f"{lr:g}" + (", no momentum" if opts.get("momentum") == "0.0" else ""),
                     f"{lam * lr:.2g}", f"{len(trained)} of {len(seeds)}" + (f" ({why})" if why else ""), acc])
    return ["One epoch at a constant λ from the first step (`experiments/adapt_reversed_step.toml`, published in "
            "`diagnostics/reversed_step/`): the step the reversed gradient takes, λ·μ, decides whether a seed "
            "trains, not λ alone.", "",
            markdown_table(["λ", "μ", "λ·μ", "seeds that trained", "source accuracy after 1 epoch (trained seeds)"],
                           rows), ""]


def edge_facts(runs_dir: Path, where: str = "") -> list[str]:
    """Where the published 2-c runs (``runs_dir``/2c_dann) stopped, set against the base run's largest reversed
    step; ``where``: that dir as the report names it."""
    diagnose = load_app("adapt").note  # the 2-c runs are adapt's: it reads where each stopped
    runs = _runs(runs_dir / "2c_dann")
    base = {s: m for s, m in runs.get("", {}).items() if m.get("history")}
    if not base:
        return []
    peak = max(max(_step(r) for r in m["history"]) for m in base.values())
    steps = []  # the reversed step at every collapse or NaN of the published 2-c runs
    for name, seeds in runs.items():
        if "multiplier-on=domain-loss" in name:
            continue  # the multiplier scales the whole domain loss there: another step, read in its run notes
        for m in seeds.values():
            d = diagnose(m)
            steps += [e["lambda"] * e["lr"] for e in d.events if e["event"] == "collapsed"]
            if d.nan:
                steps.append(d.nan["lambda"] * d.nan["lr"])
    near = {}
    for name in ("", "epochs=50", "epochs=100"):
        m = next(iter(runs.get(name, {}).values()), None)
        if m is not None and not m.get("diverged"):
            near[name or "epochs=20"] = sum(_step(r) >= EDGE_BAND for r in m["history"])
    lines = [f"The base run's largest reversed step is λ·μ = {peak:.2g} ({len(base)} seeds, `{where}2c_dann/base`). The published "
             f"2-c runs that stopped did so at λ·μ from {min(steps):.2g} to {max(steps):.2g} "
             f"({len(steps)} stops, each in its table's run notes): the base run's peak is itself the edge. "
             if steps else f"The base run's largest reversed step is λ·μ = {peak:.2g}. "]
    if near:
        lines[0] += ("Epochs spent at λ·μ ≥ " + f"{EDGE_BAND:g}: " +
                     ", ".join(f"{n} in a {k.split('=')[1]}-epoch run" for k, n in near.items()) + ". ")
    lines[0] += ("SGD's momentum (0.9 here) makes a steady step up to 1/(1 − 0.9) = 10 times larger; the study's "
                 "text names neither its optimizer's momentum nor anything else that would damp the reversed "
                 "gradient.")
    return lines + [""]


def momentum_zero(out: Path) -> list[str]:
    """The post-hoc plain-SGD diagnostic (diagnostics/momentum_zero), each point paired with its own base."""
    runs = _runs(out / "diagnostics" / "momentum_zero")
    base = runs.get("", {})
    if not base:
        return ["*The momentum-0 diagnostic (`experiments/adapt_momentum_zero.toml`) is not in this study dir.*", ""]
    tgt = lambda m: m["target"]["class_acc"] if not m.get("diverged") else None
    rows = []
    for name, seeds in runs.items():
        vals = {s: tgt(m) for s, m in seeds.items()}
        fin = [v for v in vals.values() if v is not None]
        stopped = sum(v is None for v in vals.values())
        diff = "—"
        if name:
            d = [vals[s] - tgt(base[s]) for s in vals if vals[s] is not None and s in base and tgt(base[s]) is not None]
            if len(d) >= 2:
                m, sd = mean_sd(d)
                tval = m / (sd / math.sqrt(len(d))) if sd > 0 else math.inf
                from scipy.stats import t as student

                p = 2 * student.sf(abs(tval), len(d) - 1)
                diff = f"{m:+.3f} ± {sd:.3f} ({len(d)} paired seeds, p = {p:.3f})"
        rows.append([f"`{name or 'base'}`", f"{len(fin)} of {len(vals)}" + (f" ({stopped} stopped)" if stopped else ""),
                     ", ".join(f"{v:.3f}" for v in fin) or "—", diff])
    return ["**Post hoc, never counted**: the study DANN with plain SGD (`--momentum 0`, "
            "`experiments/adapt_momentum_zero.toml`, `diagnostics/momentum_zero/`), chosen after the collapses above "
            "were seen; each point paired with its own momentum-0 base:", "",
            markdown_table(["point", "seeds that trained all epochs", "target accuracy (last epoch)",
                            "− momentum-0 base (mean ± sd, paired t-test)"], rows), "",
            "Plain SGD trains the steps that stop the momentum-0.9 runs, but its base lands below the study's Table 5 "
            "(compare the base row with the study's 0.748), so on its own it does not reproduce the study.", ""]


def findings_section(out: Path, runs: str = "", protocol: str = "") -> list[str]:
    """The report's Findings, from the study dir alone. ``runs``: where in it the 2-c runs they explain are (an
    earlier protocol's dir once a rerun replaced them; ``protocol`` names it)."""
    body = ["## Findings: why Tables 6 and 8-10 miss", "",
            *([f"*Written about the runs of an earlier protocol ({protocol}), kept in `{runs}/`.*", ""] if runs else []),
            "### Why a large λ early stops this DANN and not the study's", "",
            *reversed_step_table(out), *edge_facts(out / runs if runs else out, f"{runs}/" if runs else ""),
            *momentum_zero(out),
            "### The data path: MNIST-M at 28x28", "",
            "The study builds MNIST-M at 28x28; Ganin's 32x32 release pads MNIST's digits by 2 px, so `--preset study` "
            "crops its centre (`--fit crop`) and target digits keep their source twins' size. A resize (`--fit "
            "resize`) shrinks them by 1/8, a geometric cue the domain classifier separates easily. The run that "
            "measured this (an earlier session) was not kept, so no number is given here; `dlapps adapt dann "
            "--preset study --fit resize` measures it. The lab's own MNIST-M (`--target mnistm-lab`, 28x28, built "
            "from the BSDS500 photos) is screened below (Diagnostics).", ""]
    return body

"""Stage the finished part of a study dir for a commit: every point that completed (or stopped itself), each
sweep's aggregate files, and the study's report, rebuilt first with ``dlapps study --report-only``.

Points still running (or interrupted) are left out, so a commit never publishes half a run; the next sitting's
``dlapps study --out study-results`` finishes them. Checkpoints and the runs' self-contained HTML are ignored by
.gitignore (model state; copies of the PNGs beside them), and so are a GAN run's per-epoch grids (its progress strip shows them).

    python scripts/publish_study.py [study-results]      # then: git commit
"""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from dlapps.core.data.downloads import sha256_file
from dlapps.sweep import status

REPO = Path(__file__).resolve().parents[1]
# what the project's own landing check flags: an absolute path under a machine's usual roots
MACHINE_PATH = re.compile(r'(^|[ "=:(])/(work|tmp|home|root|Users)/')


# a source file of any checkout: the path up to .../src/dlapps/ (one path segment at a time, so a long line
# without spaces, e.g. an inlined image, is scanned in linear time)
SOURCE_PATH = re.compile(r"(?<![\w.-])(?:/[\w.@+-]+)+?/(src/dlapps/)")


def path_rules(study: Path) -> list[tuple[re.Pattern[str], str]]:
    """(pattern, replacement) pairs that turn this machine's paths in a run's text files into portable names: a
    data or weights file -> ``$DLAPPS_DATA/<file> (sha256 ...)``, the study dir -> its path in the repo, a source
    file of any checkout (a worktree the study ran in) -> its path in the repo, an installed package's file ->
    ``<site-packages>/...``."""
    rules: list[tuple[re.Pattern[str], str]] = []
    for var in ("DLAPPS_DATA", "DLAPPS_WEIGHTS"):
        root = os.environ.get(var)
        if not root:
            continue
        root_p = Path(root).resolve()
        for f in sorted(root_p.iterdir()) if root_p.is_dir() else []:
            if f.is_file():  # a file named without its digest gets it (the form runs now write)
                rules.append((re.compile(re.escape(str(f)) + r"(?! \(sha256)"),
                              f"${var}/{f.name} (sha256 {sha256_file(f)})"))
        rules.append((re.compile(re.escape(str(root_p)) + "/"), f"${var}/"))
    study_abs = study.resolve()
    rel = os.path.relpath(study_abs, REPO) if study_abs.is_relative_to(REPO) else study.name
    rules.append((re.compile(re.escape(str(study_abs)) + r"(?=[/\s\"',;)]|$)"), rel))
    rules.append((SOURCE_PATH, r"\1"))
    for sp in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}:
        rules.append((re.compile(re.escape(str(Path(sp).resolve())) + "/"), "<site-packages>/"))
    return rules


def scrub_machine_paths(paths: list[Path], study: Path) -> int:
    """Rewrite this machine's absolute paths in the published text files (configs, metrics, logs, reports) to
    portable names, in place; returns the number of files changed. Numbers are never touched: each rule matches
    a path prefix only."""
    rules = path_rules(study)
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()
             and f.suffix in (".json", ".log", ".md", ".csv", ".txt", ".toml")]  # a run's HTML is not published
    changed = 0
    for f in files:
        text = f.read_text(errors="surrogateescape")
        new = text
        for pat, rep in rules:
            new = pat.sub(rep, new)
        if new != text:
            f.write_text(new, errors="surrogateescape")
            changed += 1
    return changed


# sweeps run beside the study: post hoc checks and screens (diagnostics/), the same data under stronger methods (beyond/)
SIDE_FOLDERS = ("diagnostics", "beyond")


def finished_paths(study: Path) -> list[Path]:
    """What to publish: the study's own files and, per sweep, its aggregate files and its finished points."""
    out = [p for p in (study / "config.json", study / "report.md", study / "report.html", study / "figures")
           if p.exists()]
    sweeps = [d for d in study.iterdir() if d.is_dir() and (d / "config.json").exists()]
    for side in SIDE_FOLDERS:  # sweeps run beside the study, published the same way
        if (study / side).is_dir():
            sweeps += [d for d in (study / side).iterdir() if d.is_dir() and (d / "config.json").exists()]
    for sweep in sorted(sweeps):
        out += [p for p in sweep.iterdir() if p.is_file() and not p.name.endswith((".log", ".html"))
                and not p.name.startswith(".")]
        out += [p for p in (sweep / "tables", sweep / "figures") if p.exists()]
        for point in sorted(d for d in sweep.iterdir() if d.is_dir() and d.name not in ("tables", "figures")):
            if status(point).finished:
                out.append(point)
                log = sweep / f"{point.name}.log"
                if log.exists():
                    out.append(log)
    return out


def main(argv: list[str]) -> int:
    study = Path(argv[0] if argv else "study-results")
    subprocess.run([sys.executable, "-m", "dlapps", "study", "--out", str(study), "--report-only", "--quiet"],
                   check=True)
    paths = finished_paths(study)
    changed = scrub_machine_paths(paths, study)
    left = [str(f) for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()
            and f.suffix not in (".pt", ".html", ".png") and MACHINE_PATH.search(f.read_text(errors="ignore"))]
    if left:
        print(f"{len(left)} published files still hold a machine path (first: {left[0]}); name the data and "
              "weights folders with DLAPPS_DATA / DLAPPS_WEIGHTS and publish again", file=sys.stderr)
        return 1
    subprocess.run(["git", "add", "--", *map(str, paths)], check=True)
    n = sum(1 for p in paths if p.is_dir() and p.parent.parent in (study, *(study / f for f in SIDE_FOLDERS))
            and p.name not in ("tables", "figures"))
    print(f"staged {n} finished points of {study} (and the report; machine paths rewritten in {changed} files); "
          "commit them with git commit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

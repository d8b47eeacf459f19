"""Stage the finished part of a study dir for a commit: every point that completed (or stopped itself), each
sweep's aggregate files, and the study's report, rebuilt first with ``dlapps study --report-only``.

Points still running (or interrupted) are left out, so a commit never publishes half a run; the next sitting's
``dlapps study --out study-results`` finishes them. Checkpoints and the runs' self-contained HTML are ignored by
.gitignore (model state; copies of the PNGs beside them), and so are a GAN run's per-epoch grids (its progress strip shows them).

    python scripts/publish_study.py [study-results]      # then: git commit
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dlapps.sweep import status


def finished_paths(study: Path) -> list[Path]:
    """What to publish: the study's own files and, per sweep, its aggregate files and its finished points."""
    out = [p for p in (study / "config.json", study / "report.md", study / "report.html", study / "figures")
           if p.exists()]
    sweeps = [d for d in study.iterdir() if d.is_dir() and (d / "config.json").exists()]
    diagnostics = study / "diagnostics"  # sweeps run beside the study (post hoc checks), published the same way
    if diagnostics.is_dir():
        sweeps += [d for d in diagnostics.iterdir() if d.is_dir() and (d / "config.json").exists()]
    for sweep in sorted(sweeps):
        out += [p for p in sweep.iterdir() if p.is_file() and not p.name.endswith((".log", ".html"))
                and not p.name.startswith(".")]
        out += [p for p in (sweep / "tables", sweep / "figures") if p.exists()]
        for point in sorted(d for d in sweep.iterdir() if d.is_dir() and d.name not in ("tables", "figures")):
            if status(point) in ("complete", "diverged"):
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
    subprocess.run(["git", "add", "--", *map(str, paths)], check=True)
    n = sum(1 for p in paths if p.is_dir() and p.parent.parent in (study, study / "diagnostics")
            and p.name not in ("tables", "figures"))
    print(f"staged {n} finished points of {study} (and the report); commit them with git commit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

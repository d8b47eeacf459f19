#!/usr/bin/env bash
# Copy a screen's finished points (and the sweep's config) from where it runs into the study dir, for
# publish_study.py to stage: SRC is the sweep's --out, DEST the study's diagnostics/<name> (or beyond/<name>).
# Points still running stay behind; rerunning copies the ones finished since. Once every point has run, the sweep's
# own aggregate (metrics.json with a declared validator's pick, summary, tables, figures) comes along too.
#   bash scripts/sync_screen.sh /work/screen-out/lab_protocol study-results/diagnostics/lab_protocol
set -eu
src="${1:?usage: sync_screen.sh SRC DEST}"; dest="${2:?usage: sync_screen.sh SRC DEST}"
mkdir -p "$dest"
cp "$src/config.json" "$dest/"
python3 - "$src" "$dest" <<'PY'
import json, shutil, sys
from pathlib import Path
from dlapps.sweep import status
src, dest = Path(sys.argv[1]), Path(sys.argv[2])
def portable(f: Path) -> None:  # the run names itself where it now lies
    if f.is_file() and f.suffix in (".log", ".json", ".md"):
        f.write_text(f.read_text().replace(str(src.resolve()), str(dest)))
n = 0
for p in sorted(d for d in src.iterdir() if d.is_dir()):
    if status(p).finished and not (dest / p.name / "metrics.json").exists():
        shutil.copytree(p, dest / p.name, ignore=shutil.ignore_patterns("*.pt"), dirs_exist_ok=True)
        log = src / f"{p.name}.log"
        if log.exists():
            shutil.copy2(log, dest / log.name)
        for f in [dest / log.name, *(dest / p.name).rglob("*")]:
            portable(f)
        n += 1
agg = src / "metrics.json"
if agg.exists() and json.loads(agg.read_text()).get("complete"):
    for f in ("metrics.json", "summary.md", "report.md", "tables", "figures"):
        if (src / f).is_dir():
            shutil.copytree(src / f, dest / f, dirs_exist_ok=True)
        elif (src / f).exists():
            shutil.copy2(src / f, dest / f)
    for f in [dest / "metrics.json", dest / "summary.md", dest / "report.md", *(dest / "tables").rglob("*")]:
        portable(f)
print(f"copied {n} finished points to {dest}" + (" and the sweep's aggregate (all points have run)"
                                                  if (dest / "metrics.json").exists() else ""))
PY

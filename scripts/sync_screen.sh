#!/usr/bin/env bash
# Copy a screen's finished points (and the sweep's config) from where it runs into the study dir, for
# publish_study.py to stage: SRC is the sweep's --out, DEST the study's diagnostics/<name>. Points still running
# stay behind; rerunning copies the ones finished since.
#   bash scripts/sync_screen.sh /work/screen-out/lab_protocol study-results/diagnostics/lab_protocol
set -eu
src="${1:?usage: sync_screen.sh SRC DEST}"; dest="${2:?usage: sync_screen.sh SRC DEST}"
mkdir -p "$dest"
cp "$src/config.json" "$dest/"
python3 - "$src" "$dest" <<'PY'
import shutil, sys
from pathlib import Path
from dlapps.sweep import status
src, dest = Path(sys.argv[1]), Path(sys.argv[2])
n = 0
for p in sorted(d for d in src.iterdir() if d.is_dir()):
    if status(p).finished and not (dest / p.name / "metrics.json").exists():
        shutil.copytree(p, dest / p.name, ignore=shutil.ignore_patterns("*.pt"), dirs_exist_ok=True)
        log = src / f"{p.name}.log"
        if log.exists():
            shutil.copy2(log, dest / log.name)
        for f in [dest / log.name, *(dest / p.name).rglob("*")]:  # the run names itself where it now lies
            if f.is_file() and f.suffix in (".log", ".json", ".md"):
                f.write_text(f.read_text().replace(str(src.resolve()), str(dest)))
        n += 1
print(f"copied {n} finished points to {dest}")
PY

#!/usr/bin/env bash
# The study report's "beyond the study" section (study.toml [beyond.*]): its sweeps in the order they chain (the
# pseudo-labels start from each seed's DANN run, DIRT-T from each seed's VADA run), on one core, one thread per
# point, from a worktree at a fixed commit so that the chained runs' relative paths resolve inside it:
#   git worktree add ../beyond-wt <commit> && cd ../beyond-wt
#   DLAPPS_DATA=../shared/data nohup bash scripts/run_beyond.sh [SWEEP ...] &
# Default: VADA's settings chosen by IM (adapt_vada_select.toml: the longest, and what VADA's rows wait for), then VADA
# on the point IM picked (adapt_beyond_vada.toml reads it from the selection's files: settings-from), DIRT-T from each
# VADA run, then DANN and DANN + pseudo-labels. A sweep that fails (e.g. VADA before its selection has finished)
# stops the chain there.
# Each sweep skips finished points and resumes an interrupted one. Publish finished points from the main checkout:
#   bash scripts/sync_screen.sh ../beyond-wt/study-results/beyond/STEM study-results/beyond/STEM
#   python scripts/publish_study.py study-results
set -u
export PYTHONPATH="$PWD/src" MPLBACKEND=Agg
sweeps=("$@")
[ ${#sweeps[@]} -gt 0 ] || sweeps=(adapt_vada_select adapt_beyond_vada adapt_beyond_dirtt adapt_beyond_dann
                                    adapt_beyond_pseudo_label)
for s in "${sweeps[@]}"; do
  echo "=== $(date -u +%FT%T) $s at $(git rev-parse --short HEAD)"
  nice -n 10 python3 -m dlapps sweep "experiments/$s.toml" --out "study-results/beyond/$s" --jobs 1 --threads 1
  rc=$?
  echo "=== $(date -u +%FT%T) exit $rc: $s"
  [ $rc -eq 0 ] || exit $rc
done

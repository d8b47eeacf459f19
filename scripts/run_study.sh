#!/usr/bin/env bash
# The study's remaining run, in the order the published one uses, from a worktree at a fixed commit:
#   git worktree add ../study-wt <commit> && cd ../study-wt
#   DLAPPS_DATA=../shared/data DLAPPS_WEIGHTS=../shared/weights nohup bash scripts/run_study.sh ../main/study-results &
# Each step finishes only what is missing (kill it any time; the next call resumes from the last epoch's
# checkpoints). Order: 2-de (a whole section); 2-c's 20-epoch points; the post hoc momentum-0 diagnostic; Table 6's
# 50/100-epoch points last. `dlapps study --out OUT --plan --jobs 2` prices each step; publish finished points
# with `python scripts/publish_study.py OUT && python scripts/study_readme.py` in the main checkout.
set -u
out="${1:?usage: run_study.sh STUDY_DIR}"
export PYTHONPATH="$PWD/src" MPLBACKEND=Agg
step() { echo "=== $(date -u +%FT%T) $* at $(git rev-parse --short HEAD)"; nice -n 10 python3 -m dlapps "$@";
         echo "=== $(date -u +%FT%T) exit $?"; }
step study --out "$out" --only 2de --jobs 2
step study --out "$out" --only 2c --tables 4,5,7,8,9,10 --jobs 2
step sweep experiments/adapt_momentum_zero.toml --out "$out/diagnostics/momentum_zero" --jobs 2
step study --out "$out" --only 2c --jobs 2

#!/usr/bin/env bash
# The study's remaining run, in the order the published one uses, from a worktree at a fixed commit:
#   git worktree add ../study-wt <commit> && cd ../study-wt
#   DLAPPS_DATA=../shared/data DLAPPS_WEIGHTS=../shared/weights nohup bash scripts/run_study.sh ../main/study-results &
# Each step finishes only what is missing (kill it any time; the next call resumes from the last epoch's
# checkpoints). Two chains run side by side, one point (one core, one thread) each, so that neither core idles
# while a sweep's last long point finishes (--jobs 2 inside one sweep left a core idle for its tail):
#   A: 2-de (a whole section), then the post hoc momentum-0 diagnostic, then it helps B with what 2-c has left;
#   B: 2-c's 20-epoch points, then Table 6's 50/100-epoch points.
# A point is locked while a process trains it (sweep.py), so where the chains meet in 2-c each takes the points
# the other does not hold. With one thread per point the numbers do not depend on how points are scheduled.
# CHAINS=b runs chain B alone, on one core (the 2-c rerun beside another experiment on the other core); run this
# checkout's script from the worktree, whose own copy may be older:
#   cd ../rerun-wt && CHAINS=b DLAPPS_DATA=../shared/data nohup bash ../main/scripts/run_study.sh ../main/study-results & `dlapps study --out OUT --plan --jobs 2` prices what is left;
# publish finished points with `python scripts/publish_study.py OUT && python scripts/study_readme.py` in the main
# checkout.
set -u
out="${1:?usage: run_study.sh STUDY_DIR}"
export PYTHONPATH="$PWD/src" MPLBACKEND=Agg
step() {
  local rc
  echo "=== $(date -u +%FT%T) $* at $(git rev-parse --short HEAD)"
  nice -n 10 python3 -m dlapps "$@"; rc=$?
  echo "=== $(date -u +%FT%T) exit $rc: $*"
}
chain_a() {
  step study --out "$out" --only 2de --jobs 1
  step sweep experiments/adapt_momentum_zero.toml --out "$out/diagnostics/momentum_zero" --jobs 1
  step study --out "$out" --only 2c --jobs 1
}
chain_b() {
  step study --out "$out" --only 2c --tables 4,5,7,8,9,10 --jobs 1
  step study --out "$out" --only 2c --jobs 1
}
for c in ${CHAINS:-a b}; do
  case "$c" in a) chain_a & ;; b) chain_b & ;; *) echo "CHAINS: a and/or b, not $c" >&2; exit 2 ;; esac
done
wait

"""How a study row and a study claim are judged: pure functions of the numbers, so the rules can be tested
on synthetic seeds and read in one place.

One sd everywhere: the sample standard deviation (n - 1 in the denominator), the one a reader estimates a
spread with from a handful of seeds.

A **row** (one number of the study's tables) is judged against the mean over seeds:

- *within band* / *outside band*: |dlapps mean - study| against the row's fixed tolerance (reference.csv);
- *k of m seeds stopped* (or *collapsed*): a seed that diverged or collapsed is a result, and a miss, never dropped from
  the mean quietly;
- *not run*: no seed finished; counted as a miss, so an empty table cannot look good;
- beside it, whether the study's number lies inside dlapps' 95 % prediction interval over seeds (where the
  next seed would land), which says whether the gap is more than seed-to-seed noise.

Rows without a band (losses, rows whose setting cannot be repeated) and substitute rows (another network
stands in) are shown and never counted.

A **claim** (setting A beats B by the study's difference) is judged on paired seeds: the same seed runs both
points, the difference is taken per seed, and a two-sided paired t-test at 5 % says whether its mean differs
from 0: *confirmed* (same sign as the study), *opposite sign*, or *not distinguishable at n seeds*. Where the
study saw no difference (its words, e.g. "not significantly different"), a difference the test finds *differs*;
none found is *not distinguishable*, which agrees with the study without proving its null at 3 seeds.
A seed whose run stopped or collapsed on either side is not paired; a claim with fewer than 3 pairs left says
*collapsed seeds* (if a paired run collapsed) or *too few seeds*.

**Replacement seeds** (decided 2026-12-04, after Table 8 had lost one seed on each of two points; the rule
applies to every claim alike, and no claim's numbers were looked at to choose it): a training point runs seeds
0, 1, 2. A failure is a result when it is the rule: a point that stopped or collapsed on 2 or more of those
seeds keeps its verdict and gets no more seeds. Where failures are occasional (at most one of the three on
each side), the next seed (3, then 4) runs on both points of the claim, until 3 pairs have finished or 5
seeds have run. Every finished seed counts, in the claims and in the rows, and every stop stays counted in
its row's verdict (*k of m seeds stopped*): replacing a failed seed never hides it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

MIN_CLAIM_SEEDS = 3  # a claim gets a verdict from this many paired seeds on
FIRST_SEEDS = 3      # seeds every training point runs (0, 1, 2)
MAX_SEEDS = 5        # replacement seeds stop here: seeds 3 and 4 at most

SeedOutcome = Literal["ok", "failed", "pending"]  # finished | stopped or collapsed | not finished yet


def replacement_seeds(a: dict[int, SeedOutcome], b: dict[int, SeedOutcome], first: int = FIRST_SEEDS,
                      max_seeds: int = MAX_SEEDS) -> list[int]:
    """The seeds beyond the first ``first`` that both points of a claim run (the module's replacement rule),
    given what is known: seed -> outcome for each side (a seed absent: not run). Seeds that are still running
    decide nothing yet, so the list only grows as results come in."""
    def failed(side: dict[int, SeedOutcome], seeds: range) -> int:
        return sum(side.get(s) == "failed" for s in seeds)

    if failed(a, range(first)) > 1 or failed(b, range(first)) > 1:
        return []  # failures are this point's rule, not an accident a new seed would repair
    n = first
    while n < max_seeds:
        if any(side.get(s, "pending") == "pending" for side in (a, b) for s in range(n)):
            break  # an unfinished seed may still make the pair: wait for it
        if sum(a[s] == "ok" and b[s] == "ok" for s in range(n)) >= MIN_CLAIM_SEEDS:
            break
        n += 1
    return list(range(first, n))


def mean_sd(vals: list[float]) -> tuple[float, float]:
    """Mean and sample sd (0 for one value)."""
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, sd


def t_quantile(n: int, level: float = 0.95) -> float:
    """Two-sided Student-t quantile for n values (n - 1 degrees of freedom)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n - 1))


def prediction_interval(vals: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """Where one more seed would land with probability ``level`` (normal model): mean ± t·sd·√(1 + 1/n);
    None below two values."""
    if len(vals) < 2:
        return None
    m, sd = mean_sd(vals)
    half = t_quantile(len(vals), level) * sd * math.sqrt(1 + 1 / len(vals))
    return m - half, m + half


RowStatus = Literal["within", "outside", "stopped", "not run", "substitute", "no verdict", "repeat"]


@dataclass
class RowVerdict:
    status: RowStatus
    text: str                  # what the table's verdict column says
    in_spread: str = "—"       # whether the study's number lies in dlapps' 95 % prediction interval
    # a row with stopped seeds: where its finished (not collapsed) seeds' mean lies, so a summary cannot hide a
    # disagreement behind the stop: "within" | "outside" | "none" (no seed finished); "" for other rows
    finished: Literal["within", "outside", "none", ""] = ""

    @property
    def judged(self) -> bool:
        """Counts toward agreement (a hit or a miss)."""
        return self.status in ("within", "outside", "stopped", "not run")


def judge_row(study: float | None, vals: list[float], stopped: int, planned: int, band: float | None,
              substitute: bool = False, no_verdict: str = "", repeat_of: str = "", collapsed: int = 0,
              healthy: list[float] | None = None, bounded: bool = False) -> RowVerdict:
    """The verdict of one row. ``vals``: the finished seeds' values; ``stopped``: seeds that diverged or
    collapsed and stopped themselves; ``collapsed``: seeds that ran to the end collapsed (their values are in
    ``vals``; ``healthy`` are the others, default all of ``vals``); ``planned``: seeds the point should have.
    ``repeat_of``: the table whose identical row (same runs, same metric) was already counted. ``bounded``: the
    metric is a fraction, so its interval is clipped to [0, 1]."""
    spread = "—"
    pi = prediction_interval(vals)
    if pi is not None and bounded:
        pi = (max(0.0, pi[0]), min(1.0, pi[1]))
    if pi is not None and study is not None:
        spread = f"{'yes' if pi[0] <= study <= pi[1] else 'no'} [{pi[0]:.4f}, {pi[1]:.4f}]"
    if substitute:
        return RowVerdict("substitute", "substitute: not judged", spread)
    if band is None or study is None:
        return RowVerdict("no verdict", no_verdict or "no verdict", spread)
    if repeat_of:
        return RowVerdict("repeat", f"same runs as {repeat_of}: counted there", spread)
    if stopped or collapsed:
        what = ", ".join(f"{n} of {planned} seeds {w}" for n, w in ((stopped, "stopped"), (collapsed, "collapsed"))
                         if n)
        ok = vals if healthy is None else healthy
        where = "none" if not ok else "within" if abs(mean_sd(ok)[0] - study) <= band else "outside"
        said = {"none": "no seed finished", "within": f"finished seeds within ±{band:g}",
                "outside": f"finished seeds outside ±{band:g}"}[where]
        return RowVerdict("stopped", f"miss: {what} ({said})", spread, where)
    if not vals:
        return RowVerdict("not run", "not run", spread)
    ok = abs(mean_sd(vals)[0] - study) <= band
    return RowVerdict("within" if ok else "outside", f"{'yes' if ok else 'no'} (±{band:g})", spread)


ClaimStatus = Literal["confirmed", "opposite sign", "differs", "not distinguishable", "too few seeds",
                      "collapsed seeds", "not run", "not testable here"]


@dataclass
class ClaimVerdict:
    status: ClaimStatus
    n: int                              # paired seeds used
    mean: float | None = None           # mean of the per-seed differences a - b
    sd: float | None = None
    ci: tuple[float, float] | None = None  # 95 % confidence interval of the mean difference
    dropped: list[str] = field(default_factory=list)  # why seeds were not paired (a run stopped, missing)
    collapsed: int = 0                  # paired seeds in which either run collapsed

    @property
    def text(self) -> str:
        if self.status == "not run":
            return "not run"
        if self.status == "too few seeds":
            return f"too few seeds ({self.n} paired; a verdict needs {MIN_CLAIM_SEEDS})"
        if self.status == "not distinguishable":
            return f"not distinguishable at {self.n} seeds"
        if self.status == "differs":
            return f"differs at {self.n} seeds (the study saw no difference)"
        if self.status == "not testable here":
            return "not testable here (true by construction), not counted"
        if self.status == "collapsed seeds":
            return (f"no verdict: {self.collapsed} of {self.n} paired seeds collapsed (a collapsed run says "
                    "nothing about the study's effect)")
        return self.status


def judge_claim(study_diff: float, a: dict[int, float], b: dict[int, float],
                stopped_a: set[int] | None = None, stopped_b: set[int] | None = None,
                collapsed: set[int] | None = None) -> ClaimVerdict:
    """Paired verdict on 'a - b has the study's sign': a and b map seed -> value of the finished runs;
    ``collapsed``: seeds in which either run ended at chance (no verdict then, whatever the sign: the
    difference is a failure's size, not the effect the study describes)."""
    stopped_a, stopped_b = stopped_a or set(), stopped_b or set()
    seeds = sorted(set(a) & set(b))
    dropped = [f"seed {s}: {'both' if s in stopped_a and s in stopped_b else 'a' if s in stopped_a else 'b'} "
               "stopped" for s in sorted(stopped_a | stopped_b)]
    if not seeds:
        return ClaimVerdict("not run", 0, dropped=dropped)
    dead_seeds = set(seeds) & (collapsed or set())
    if dead_seeds and len(seeds) - len(dead_seeds) >= MIN_CLAIM_SEEDS:
        # replacement seeds left enough healthy pairs: judge those, and name the collapsed ones
        dropped += [f"seed {s}: collapsed" for s in sorted(dead_seeds)]
        seeds = [s for s in seeds if s not in dead_seeds]
        collapsed = set()
    diffs = [a[s] - b[s] for s in seeds]
    m, sd = mean_sd(diffs)
    n = len(diffs)
    ci = None
    if n >= 2:
        half = t_quantile(n) * sd / math.sqrt(n)
        ci = (m - half, m + half)
    else:
        sd = None
    dead = len(set(seeds) & (collapsed or set()))
    if dead:
        return ClaimVerdict("collapsed seeds", n, m, sd, ci, dropped, dead)
    if ci is None or n < MIN_CLAIM_SEEDS:
        return ClaimVerdict("too few seeds", n, m, sd, ci, dropped)
    if ci[0] > 0 or ci[1] < 0:  # the paired t-test rejects 'no difference' at 5 %
        if study_diff == 0:  # the study saw none ("not significantly different"): a difference contradicts it
            return ClaimVerdict("differs", n, m, sd, ci, dropped)
        same = (m > 0) == (study_diff > 0)
        return ClaimVerdict("confirmed" if same else "opposite sign", n, m, sd, ci, dropped)
    return ClaimVerdict("not distinguishable", n, m, sd, ci, dropped)

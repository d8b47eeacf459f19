"""The study's report: a summary box (rows within band, misses, claims), then sections 2-a .. 2-de, each table
with *study reported* | *dlapps* (mean ± sd over seeds) | *difference* | *verdict* | *study inside dlapps'
spread?*, its claims on paired seeds, a per-epoch figure for every training table, and links to every sweep's
own report. The rules of every verdict live in :mod:`dlapps.study.verdict`.

The report is a function of the study dir alone (no clock, no machine facts), so ``dlapps study
--report-only`` rebuilds a published report byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dlapps.apps import load_app
from dlapps.runner.report import md_to_html, markdown_table
from dlapps.runner.runs import atomic_write_text, metric as dotted
from dlapps.study.beyond import beyond_part
from dlapps.study.figures import epoch_figure, point_montage
from dlapps.study.findings import findings_section
from dlapps.study.results import PointSeeds, StudyData, study_extra_seeds, study_spec, study_seeds
from dlapps.study.verdict import MIN_CLAIM_SEEDS, ClaimVerdict, RowVerdict, judge_claim, judge_row, mean_sd
from dlapps.sweep import expand, Point, read_metrics, status
from dlapps.study.reproducibility import reproducibility_part
from dlapps.study.screen import screen_section

SECTION_ORDER = ("2a", "2b", "2c", "2de")
SHOWN_FIRST = ("samples", "losses", "classviz", "saliency", "fool", "tsne")  # a figure group's, in this order
SD_NOTE = "sd: sample standard deviation over seeds (n − 1)"
ROW_HEADER = ["row", "column", "study reported", "dlapps (mean ± sd)", "difference", "verdict",
              "study inside dlapps' 95 % prediction interval?", "pages", "note"]


def _fmt_ref(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _fmt_ours(vals: list[float], digits: int = 4) -> str:
    if not vals:
        return "—"
    m, sd = mean_sd(vals)
    m = m if abs(m) >= 0.5 * 10 ** -digits else 0.0  # no "-0.0000" for a FID that rounds to a hair below 0
    return f"{m:.{digits}f} (1 seed)" if len(vals) == 1 else f"{m:.{digits}f} ± {sd:.{digits}f} ({len(vals)} seeds)"


def _digits(vals: list[float]) -> int:
    """Decimals for a metric of any scale: counts as counts, FIDs and step times to 0.1, fractions to 4."""
    if all(float(v).is_integer() for v in vals):
        return 0
    return 1 if any(abs(v) >= 10 for v in vals) else 4


@dataclass
class Tally:
    """What a table (or the whole study) adds to the summary."""

    within: int = 0
    outside: int = 0
    stopped: int = 0
    not_run: int = 0
    substitutes: int = 0
    # rows with stopped seeds, by where their finished seeds' mean lies (within / outside / none finished)
    stopped_finished: dict[str, int] = field(default_factory=dict)
    # the runs (sweep, point, seed) the judged rows read, and those of them that stopped or collapsed: seeds,
    # not rows (Table 6's eight rows read the same three runs)
    runs: set[tuple[str, str, int]] = field(default_factory=set)
    stopped_runs: set[tuple[str, str, int]] = field(default_factory=set)
    unexplained: list[str] = field(default_factory=list)  # misses without a sentence in study.toml
    claims: dict[str, int] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        return self.within + self.outside + self.stopped + self.not_run

    def count(self, v: RowVerdict, s: PointSeeds, sweep: str, point: str) -> None:
        """Count one row's verdict (and, for a judged row, the runs it read: sweep, point, seed)."""
        self.substitutes += v.status == "substitute"
        if not v.judged:
            return
        self.within += v.status == "within"
        self.outside += v.status == "outside"
        self.stopped += v.status == "stopped"
        self.not_run += v.status == "not run"
        if v.finished:
            self.stopped_finished[v.finished] = self.stopped_finished.get(v.finished, 0) + 1
        self.runs |= {(sweep, point, k) for k in {*s.values, *s.stopped, *s.missing}}
        self.stopped_runs |= {(sweep, point, k) for k in (*s.stopped, *s.collapsed, *s.collapsed_at_end)}

    def add(self, other: "Tally") -> None:
        for k in ("within", "outside", "stopped", "not_run", "substitutes"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for k, v in other.stopped_finished.items():
            self.stopped_finished[k] = self.stopped_finished.get(k, 0) + v
        self.runs |= other.runs
        self.stopped_runs |= other.stopped_runs
        self.unexplained += other.unexplained
        for k, v in other.claims.items():
            self.claims[k] = self.claims.get(k, 0) + v

    def rows_text(self) -> str:
        if not self.judged and not self.substitutes:
            return "—"
        parts = [f"{self.within}/{self.judged} within band"] if self.judged else []
        parts += [f"{n} {what}" for n, what in ((self.outside, "outside"), (self.stopped, "with stopped seeds"),
                                                 (self.not_run, "not run")) if n]
        if self.stopped:
            parts[-1 if not self.not_run else -2] += f" ({self.stopped_text()})"
        if self.stopped_runs:
            parts.append(f"{len(self.stopped_runs)} of {len(self.runs)} seeds stopped")
        if self.substitutes:
            parts.append(f"substitutes: {self.substitutes} rows, not judged")
        return "; ".join(parts)

    def stopped_text(self) -> str:
        """Where the finished seeds of the rows with stopped seeds lie."""
        f = self.stopped_finished
        return ", ".join(f"{f[k]} {what}" for k, what in (("within", "whose finished seeds are within band"),
                                                         ("outside", "outside"), ("none", "with no seed finished"))
                         if f.get(k))

    def claims_text(self) -> str:
        if not self.claims:
            return "—"
        order = ("confirmed", "opposite sign", "differs", "not distinguishable", "too few seeds", "collapsed seeds",
                 "not run", "not testable here")
        return ", ".join(f"{self.claims[k]} {k}" for k in order if self.claims.get(k))


class RunNotes:
    """Each training point's run note, printed once in the report (under the first table that reads it) and
    pointed to by every row that reads it: what each seed did, read from its own files by the app's
    ``diagnose`` (never typed by hand), with study.toml's reason for a miss (a hypothesis, no number) after it."""

    def __init__(self, data: StudyData, prefix: str = "R") -> None:
        self.data, self.prefix = data, prefix
        self.refs: dict[tuple[str, str], str] = {}
        self.why: dict[str, list[str]] = {}
        self.pending: list[tuple[str, Any, str]] = []

    def ref(self, plan: Any, point: str) -> str:
        """The note's label ("R3") for a point of a DANN sweep, "" for other sweeps and plans without runs."""
        if plan.file is None or plan.mode != "full" or self.data.spec(plan.file).command[:2] != ["adapt", "dann"]:
            return ""
        key = (plan.file.stem, point)
        if key not in self.refs:
            self.refs[key] = f"{self.prefix}{len(self.refs) + 1}"
            self.pending.append((self.refs[key], plan, point))
        return self.refs[key]

    def add_why(self, ref: str, why: str) -> None:
        if ref and why and why not in self.why.setdefault(ref, []):
            self.why[ref].append(why)

    def flush(self) -> list[str]:
        """The notes first referenced since the last flush, as a list under the table."""
        if not self.pending:
            return []
        lines = ["**Run notes** (what each seed did, read from its own files):", ""]
        for ref, plan, point in self.pending:
            spec = self.data.spec(plan.file)
            note = load_app(spec.command[0]).note  # the app reads its own runs (adapt: NaN, collapse, recovery)
            if note is None:
                continue
            seeds = [p for p in expand(spec, plan.quick) if p.name == point]
            said = []
            for p in seeds:
                d = plan.sweep_dir / p.dirname if plan.sweep_dir else None
                log = plan.sweep_dir / f"{p.dirname}.log" if plan.sweep_dir else None
                # a run still going says nothing yet (the report is a function of the finished results)
                m = read_metrics(d) if d is not None and status(d).finished else None
                text = log.read_text(errors="replace") if log is not None and log.exists() else ""
                said.append(f"seed {p.seed}: {note(m, text, p.options and _options(p.options)).text()}")
            why = "".join(f" *Why:* {w}." for w in self.why.get(ref, []))
            lines.append(f"- **{ref}** `{point or 'base'}` — " + "; ".join(said) + "." + why)
        self.pending = []
        self.why = {}
        return lines + [""]


def substitute_label(plan: Any, data: StudyData, r: dict[str, Any], point: str) -> str:
    """A substitute row names both networks: 'VGG16 relu7 → mobilenet_v2 `layer=pool`' (or 'not run here')."""
    need = str(plan.entry.spec.get("needs", "")).upper()
    study = r["row"] if r["row"].upper().startswith(need) or "=" not in r["point"] and not need else \
        (r["row"] if any(c.isupper() for c in r["row"][:1]) else f"{need} {r['row']}")
    if r["point"] not in plan.point_map:
        return f"{study} → no substitute here (not run)"
    opts = next((p.options for p in expand(data.spec(plan.file), plan.quick) if p.name == point), {})
    model = opts.get("model", "")
    model = ", ".join(model) if isinstance(model, list) else str(model)
    return f"{study} → {model} `{point}`" if model else f"{study} → `{point}`"


def _options(cli: dict[str, Any]) -> dict[str, Any]:
    """A sweep point's options (CLI names) as a run's config names them."""
    return {k.replace("-", "_"): v for k, v in cli.items()}


def is_fraction(metric: str | None) -> bool:
    """An accuracy (a fraction in [0, 1]), whose intervals are clipped to that range."""
    return bool(metric) and metric.rsplit(".", 1)[-1].endswith(("acc", "accuracy", "rate"))


def _row_cells(r: dict[str, Any], s: Any, v: RowVerdict, label: str, note: str) -> list[str]:
    vals = s.vals
    diff = f"{mean_sd(vals)[0] - r['value']:+.4f}" if vals and isinstance(r["value"], float) else "—"
    ours = _fmt_ours(vals)
    if s.stopped:  # a run that stopped itself is a result too (the study saw the same for large λ)
        ours = "; ".join(([ours] if vals else []) + [f"seed {k} stopped after epoch {e}" for k, e in
                                                     sorted(s.stopped.items())])
    if s.collapsed:
        ours += "; " + "; ".join(f"seed {k} collapsed ({a})" for k, a in sorted(s.collapsed.items()))
    if s.collapsed_at_end:
        ours += "; " + "; ".join(f"seed {k} ended collapsed ({a}), trained to its end" for k, a in
                                 sorted(s.collapsed_at_end.items()))
    if s.damaged:
        ours += f"; damaged: seed {', '.join(map(str, s.damaged))}"
    if s.missing and (vals or s.stopped):  # a point under way, or a replacement seed (verdict.py) not run yet
        ours += f"; seed {', '.join(map(str, s.missing))} not run yet"
    return [label, r["column"], _fmt_ref(r["value"]), ours, diff, v.text, v.in_spread, r["pages"], note]


def table_rows(plan: Any, refs: list[dict[str, Any]], data: StudyData,
               counted: dict[tuple[str, str, str], str], notes: RunNotes,
               explain: dict[str, str] | None = None, counts: bool = True) -> tuple[list[list[str]], Tally]:
    """One table's rows and its tally. ``counted`` maps (sweep, point, metric) to the table that already
    judged those runs, so six tables reading Table 5's run count it once. ``explain``: why a row misses (default:
    the table's own study.toml sentences); ``counts``: False for rows shown beside the study, never counted."""
    tally = Tally()
    rows = []
    explain = plan.entry.spec.get("explain", {}) if explain is None else explain
    for r in refs:
        if r["table"] != plan.entry.key:
            continue
        point = plan.point_map.get(r["point"], r["point"])
        s = data.seeds(plan, point, r["metric"]) if r["metric"] else PointSeeds()
        # a row of a substituted table whose network has no stand-in here never ran: a miss, counted as one
        unsubstituted = plan.mode == "substitute" and bool(r["metric"]) and r["point"] not in plan.point_map
        band = r["band"] if plan.judged or unsubstituted else None
        key = (plan.file.name if plan.file else "", point, r["metric"])
        no_verdict = ("not judged (quick)" if plan.mode == "quick" else
                      "not comparable (pipeline check)" if plan.mode == "pipeline-check" else
                      "not rebuilt" if plan.mode == "not-rebuilt" else
                      "no verdict" + (" (losses: see the caption)" if "loss" in r["metric"] else ""))
        v = judge_row(r["value"] if isinstance(r["value"], float) else None, s.vals, len(s.stopped), s.planned,
                      band, substitute=plan.mode == "substitute" and not unsubstituted, no_verdict=no_verdict,
                      repeat_of=counted.get(key, "") if r["metric"] else "", collapsed=len(s.collapsed),
                      healthy=[x for k, x in sorted(s.values.items()) if k not in s.collapsed],
                      bounded=is_fraction(r["metric"]))
        if v.judged:
            counted.setdefault(key, plan.entry.label)
        tally.count(v, s, key[0], point)
        # an explanation is of a miss: once more seeds bring the row inside its band, it is no longer shown.
        # "row|column" explains one number, "row" every number of that row (one stopped seed misses them all)
        why = (explain.get(f"{r['row']}|{r['column']}") or explain.get(r["row"], "")
               if v.status in ("outside", "stopped") else "")
        if v.status in ("outside", "stopped") and not why:
            tally.unexplained.append(f"{plan.entry.label} {r['row']} / {r['column']}")
        label = substitute_label(plan, data, r, point) if plan.mode == "substitute" else r["row"]
        ref = notes.ref(plan, point) if r["metric"] else ""
        notes.add_why(ref, why)
        # the runs of a point another table already shows (Table 5's, in Tables 6-10): one line for all its rows
        shown = counted.setdefault((key[0], point, "*"), plan.entry.label) if r["metric"] and plan.judged else ""
        if shown and shown != plan.entry.label:
            if not any(row[0] == label and row[1] == "every column" for row in rows):
                there = "shown and counted there" if counts else "shown there"
                rows.append([label, "every column", "", "", "", f"same runs as {shown}: {there}", "", r["pages"], ref])
            continue
        rows.append(_row_cells(r, s, v, label, "; ".join(x for x in (r.get("note") or "", ref, "" if ref else why)
                                                         if x)))
    # rows the study did not run but a reader needs, e.g. λ = 0 under the same network and protocol, each with
    # the table's run minus it on paired seeds (what the control is for: the part of the effect it removes)
    for label, point in plan.entry.spec.get("extra_points", {}).items():
        for r in refs:
            if r["table"] == plan.entry.key and r["point"] == "" and "acc" in (r["metric"] or ""):
                s, base = data.seeds(plan, point, r["metric"]), data.seeds(plan, "", r["metric"])
                paired = _paired_text(judge_claim(1.0, base.values, s.values))
                rows.append([f"{label}: {r['row']}", r["column"], "not in the study", _fmt_ours(s.vals), "—",
                             "not in the study" + (f"; the table's run − this: {paired[0]}, 95 % CI {paired[1]}"
                                                   if paired[1] != "—" else ""), "—", "", f"`{point}`"])
    return rows, tally


def reading_rows(plan: Any, refs: list[dict[str, Any]], data: StudyData, point_map: dict[str, str],
                 notes: RunNotes) -> list[list[str]]:
    """An alternative reading of a table (Table 10's multiplier): its accuracy rows, shown beside the study's
    numbers with the verdict they would get, never counted."""
    rows = []
    explain = plan.entry.spec.get("explain_points", {})  # point -> why its row misses (shown, never counted)
    for r in refs:
        if r["table"] != plan.entry.key or "acc" not in (r["metric"] or "") or r["point"] not in point_map:
            continue
        point = point_map[r["point"]]
        s = data.seeds(plan, point, r["metric"])
        v = judge_row(r["value"], s.vals, len(s.stopped), s.planned, r["band"] if plan.judged else None,
                      collapsed=len(s.collapsed), healthy=[x for k, x in sorted(s.values.items()) if k not in s.collapsed],
                      bounded=is_fraction(r["metric"]))
        why = explain.get(point, "") if v.status in ("outside", "stopped") else ""
        ref = notes.ref(plan, point)
        notes.add_why(ref, why)
        rows.append(_row_cells(r, s, v, f"{r['row']} → `{point or 'base'}`",
                               "; ".join(x for x in ("alternative reading: not counted", ref, "" if ref else why)
                                         if x)))
    return rows


def metric_reading_rows(plan: Any, refs: list[dict[str, Any]], data: StudyData, metrics: dict[str, str],
                        shown: set[tuple[str, str, str]]) -> list[list[str]]:
    """The rows of a table whose metric another measurement reads too (study.toml [metric_readings]): that
    measurement's number over the same seeds and the verdict it would get, never counted. Runs that did not record
    it give no row, nor does a point an earlier table already showed (``shown``)."""
    rows = []
    for r in refs:
        if r["table"] != plan.entry.key or r["metric"] not in metrics or plan.file is None:
            continue
        point, other = plan.point_map.get(r["point"], r["point"]), metrics[r["metric"]]
        key = (plan.file.name, point, other)
        s = data.seeds(plan, point, other)
        if not s.vals or key in shown:
            continue
        shown.add(key)
        v = judge_row(r["value"] if isinstance(r["value"], float) else None, s.vals, len(s.stopped), s.planned,
                      r["band"] if plan.judged else None, collapsed=len(s.collapsed),
                      healthy=[x for k, x in sorted(s.values.items()) if k not in s.collapsed], bounded=True)
        rows.append(_row_cells(r, s, v, r["row"], f"`{other}`; not counted"))
    return rows


def claim_rows(plan: Any, plans: dict[str, Any], refs: list[dict[str, Any]], data: StudyData,
               point_map: dict[str, str] | None = None) -> tuple[list[list[str]], dict[str, int], list[str]]:
    """The claims of a table or figure group (study.toml [[claims]]): the study's a − b, dlapps' paired a − b,
    and a verdict. A table's claim takes the study's difference from reference.csv; a figure group's (the
    study shows pictures there, no numbers) takes only its sign, from the claim's ``direction`` and the words
    it quotes, and is judged on that sign alone."""
    key = plan.entry.key
    rows, counts, said = [], {}, []
    for c in study_spec().get("claims", []):
        if str(c.get("table", c.get("figure"))) != key:
            continue
        b_key = str(c.get("b_table", c.get("b_figure", key)))
        b_plan = plans.get(b_key)
        b_metric = c.get("b_metric", c["metric"])  # a claim may set two numbers of one run against each other
        study_diff, study_text = _study_difference(c, refs, key, b_key, b_metric)
        if b_plan is None:
            raise ValueError(f"study.toml claim {c['text']!r}: no table or figure group {b_key!r}")
        pa, pb = c["a"], c["b"]
        if point_map is not None:  # an alternative reading maps the table's own points
            pa = point_map.get(pa, pa)
            pb = point_map.get(pb, pb) if b_key == key else pb
        judged = plan.judged and b_plan.judged
        sa, sb = data.seeds(plan, pa, c["metric"]), data.seeds(b_plan, pb, b_metric)
        # a timing taken over part of a run (it resumed) is not that run's: such a seed is not paired
        va = {k: x for k, x in sa.values.items() if k not in sa.untimed}
        vb = {k: x for k, x in sb.values.items() if k not in sb.untimed}
        v: ClaimVerdict = judge_claim(study_diff, va, vb, set(sa.stopped), set(sb.stopped),
                                      {*sa.collapsed, *sb.collapsed, *sa.collapsed_at_end, *sb.collapsed_at_end})
        v.dropped += [f"seed {k}: {side} {why}" for side, u in (("a", sa.untimed), ("b", sb.untimed))
                      for k, why in sorted(u.items())]
        if c.get("by_construction"):  # what the method guarantees is no finding: shown, never counted
            v = ClaimVerdict("not testable here", v.n, v.mean, v.sd, v.ci, v.dropped)
        text = v.text if judged else "not judged (" + (plan.mode if not plan.judged else b_plan.mode) + ")"
        if judged:
            counts[v.status] = counts.get(v.status, 0) + 1
        ours, ci = _paired_text(v)
        names = f"`{pa or 'base'}` − `{pb or 'base'}`" + (f" ({b_plan.entry.label})" if b_key != key else "")
        metric = c["metric"] + (f" − {b_metric}" if b_metric != c["metric"] else "")
        pending = sorted(set(sa.missing) | set(sb.missing)) if v.n else []  # a point under way, a replacement seed
        label = c["text"] + (" *(post hoc)*" if c.get("post_hoc") else "")
        rows.append([label, names, metric, study_text, ours, ci,
                     text + (f"; {'; '.join(v.dropped)}" if v.dropped else "")
                     + (f"; seed {', '.join(map(str, pending))} not run yet" if pending else "")])
        said.append(f"- *{c['text']}*: the study said “{c['quote']}” (pp. {c['pages']}) → dlapps found "
                    f"{text if v.mean is None else f'{ours}, {text}'}"
                    + "".join(f". {w}: {c[k]}" for k, w in (("post_hoc", "Post hoc"),
                                                            ("by_construction", "By construction")) if c.get(k))
                    + ".")
    return rows, counts, said


def _study_difference(c: dict[str, Any], refs: list[dict[str, Any]], key: str, b_key: str,
                      b_metric: str) -> tuple[float, str]:
    """The study's a − b of one claim and how it reads: from reference.csv, or a sign from its words."""
    if "direction" in c:  # words, not a number: "more diverse", "seem more real"
        return ({"higher": 1.0, "lower": -1.0, "none": 0.0}[c["direction"]],
                "no difference" if c["direction"] == "none" else c["direction"])

    def ref_value(table: str, point: str, metric: str) -> float | None:
        for r in refs:
            if r["table"] == table and r["point"] == point and r["metric"] == metric and isinstance(r["value"], float):
                return r["value"]
        return None

    ra, rb = ref_value(key, c["a"], c["metric"]), ref_value(b_key, c["b"], b_metric)
    if ra is None or rb is None:
        raise ValueError(f"study.toml claim {c['text']!r}: no reference value for its points")
    return ra - rb, f"{ra - rb:+.4f}"


def _paired_text(v: ClaimVerdict) -> tuple[str, str]:
    """dlapps' paired difference (mean ± sd, n) and its 95 % CI as the claim table prints them."""
    k = 4 if v.mean is None or abs(v.mean) < 10 else 1  # FID differences to 0.1, accuracies to 4 decimals
    ours = "—" if v.mean is None else (f"{v.mean:+.{k}f}" + (f" ± {v.sd:.{k}f}" if v.sd is not None else "")
                                       + f" ({v.n} paired seed{'s' if v.n != 1 else ''})")
    return ours, "—" if v.ci is None else f"[{v.ci[0]:+.{k}f}, {v.ci[1]:+.{k}f}]"


CLAIM_HEADER = ["claim", "a − b", "metric", "study a − b", "dlapps a − b (mean ± sd over paired seeds)",
                "95 % CI of the mean difference", "verdict"]


def point_table(p: Any, data: StudyData) -> str:
    """A training figure group's points (GANs: 3 seeds each), every metric of its sweep as mean ± sd over the
    finished seeds, with the seeds that stopped or have not run named; "" for a sweep that does not train."""
    if p.file is None or p.mode == "pipeline-check":
        return ""
    spec = data.spec(p.file)
    if study_seeds(spec, data.n_seeds) is None:
        return ""
    names = list(dict.fromkeys(pt.name for pt in expand(spec, p.quick)))
    rows = []
    for name in names:
        cols: list[str] = []
        done: set[int] = set()
        stopped: dict[int, int] = {}
        planned = 0
        for metric in spec.metrics:  # a seed has finished if it reports any of them (older runs lack newer ones)
            seen = data.seeds(p, name, metric)
            cols.append(_fmt_ours(seen.vals, _digits(seen.vals)))
            done |= set(seen.values)
            stopped.update(seen.stopped)
            planned = seen.planned
        missing = planned - len(done | set(stopped))
        state = "; ".join([f"seed {k} stopped after epoch {e}" for k, e in sorted(stopped.items())]
                          + ([f"{missing} of {planned} not run"] if missing else [])) or "complete"
        rows.append([f"`{name or 'base'}`", *cols, state])
    return markdown_table(["point", *spec.metrics, "seeds"], rows)


def _measured(m: dict[str, Any], metrics: list[str]) -> str:
    """What a figure group's run measured, in words: its sweep's metrics, or what a saliency run looked at."""
    names = {"success_rate": "success", "iterations": "iterations (median)", "l2": "L2", "linf": "L∞",
             "change_in_salient": "share of the change inside the top-20 % salient pixels (0.2: even)"}
    parts = []
    for k in metrics:
        v = dotted(m, k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{names.get(k, k)} {v:.3g}")
    if "per_class" in m:
        parts += [f"p({r['target']}) {r['target_prob']:.3f} after {r['iterations']} iterations" for r in m["per_class"]]
    if "images" in m and "targets" in m:
        parts.append("maps of " + ", ".join(m["images"]) + " (for the predicted classes: " + ", ".join(m["targets"]) + ")")
    return "; ".join(parts) or "—"


def beside_study(p: Any, data: StudyData) -> list[str]:
    """A figure group's points beside what the study saw in its figures (study.toml [figures.X.study]): the
    study's words, and what dlapps' run of that point measured (its first seed)."""
    said = p.entry.spec.get("study", {})
    if not said or p.file is None or p.sweep_dir is None:
        return []
    spec = data.spec(p.file)
    rows = []
    for point, words in said.items():
        d = p.sweep_dir / Point(point, {}, spec.seeds[0]).dirname
        m = read_metrics(d) if status(d) == "complete" else None
        rows.append([f"`{point or 'base'}`", words, _measured(m, spec.metrics) if m else "not run"])
    return ["**Beside the study** (its words about its figure; dlapps' run of the same images and pairs):", "",
            markdown_table(["point", "the study saw", "dlapps measured"], rows), ""]


def claims_part(p: Any, by_key: dict[str, Any], refs: list[dict[str, Any]], data: StudyData,
                part: list[str]) -> dict[str, int]:
    """Append an entry's claims tables (its own, then each alternative reading's, not counted) to ``part``;
    return the counted claims by verdict."""
    e = p.entry
    claims, counts, said = claim_rows(p, by_key, refs, data)
    if claims:
        part += [f"**Claims of {e.label}** (paired seeds; a verdict from {MIN_CLAIM_SEEDS} seeds on: the "
                 "paired t-test at 5 %)", "", markdown_table(CLAIM_HEADER, claims), "", *said, ""]
    for name, point_map in e.spec.get("readings", {}).items():
        alt, _, _ = claim_rows(p, by_key, refs, data, point_map)
        if alt:
            part += [f"**Claims under the reading {name}** (not counted)", "", markdown_table(CLAIM_HEADER, alt), ""]
    return counts


def write_study_report(out: Path, plans: list[Any], refs: list[dict[str, Any]], n_seeds: int, quick: bool,
                       failures: list[str]) -> dict[str, Any]:
    """report.md/.html in ``out``: a summary box, then each section's tables, claims and figures. Returns the
    summary's counts (rows within band, misses, claims by verdict)."""
    for p in plans:
        p.sweep_dir = out / p.file.stem if p.file is not None else None
    data = StudyData(out, n_seeds, study_extra_seeds(out, plans, n_seeds))
    ctx = _Context(out, data, refs, {p.entry.key: p for p in plans}, RunNotes(data),
                   protocols=earlier_protocols(out, plans, n_seeds))
    sections: dict[str, list[str]] = {s: [] for s in SECTION_ORDER}
    summary, total = [], Tally()
    for p in plans:
        part, tally = _plan_part(p, ctx)
        if tally is not None:
            total.add(tally)
            summary.append([p.entry.label, tally.rows_text() if p.entry.is_table else "—", tally.claims_text(),
                            p.note or p.mode])
        sections[p.entry.section] += part
    titles = study_spec()["sections"]
    md = _header(n_seeds, quick, failures) + _summary_box(summary, total, ctx.protocols)
    for s in SECTION_ORDER:
        if sections[s]:
            md += [f"## {titles[s]['title']}", ""] + sections[s]
        if s == "2c" and not quick:  # the same data under stronger methods, right after the study's own
            md += beyond_part(out, study_spec().get("beyond", {}))
    if not quick:
        explained = next((pr for pr in ctx.protocols if pr.spec.get("findings")), None)  # whose misses they explain
        md += findings_section(out, *((explained.spec["dir"], explained.spec["title"]) if explained else ()))
    md += screens_part(out)
    md += reproducibility_part(out)
    text = "\n".join(md)
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, text)
    # figures linked, not inlined: the study dir is published in git, where each report version would otherwise
    # carry megabytes of the same PNGs again
    atomic_write_text(html_path, md_to_html(text, out, inline_figures=False))
    return {"rows_judged": total.judged, "rows_within": total.within, "rows_outside": total.outside,
            "rows_stopped": total.stopped, "rows_stopped_finished": dict(total.stopped_finished),
            "runs_read": len(total.runs), "runs_stopped": len(total.stopped_runs),
            "rows_not_run": total.not_run, "substitute_rows": total.substitutes,
            "claims": dict(total.claims), "report": str(md_path),
            "protocols": {pr.name: {"rows_judged": pr.tally.judged, "rows_within": pr.tally.within}
                          for pr in ctx.protocols}}


@dataclass
class _Protocol:
    """An earlier protocol's published runs (study.toml [protocols.X]), read table by table like the study's own
    and tallied on their own: shown, never counted."""

    name: str
    spec: dict[str, Any]
    out: Path                                               # its dir in the study dir
    data: StudyData
    notes: RunNotes
    counted: dict[tuple[str, str, str], str] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)


def earlier_protocols(out: Path, plans: list[Any], n_seeds: int) -> list[_Protocol]:
    """The earlier protocols whose runs the study dir holds (one not published is not shown)."""
    found = []
    for i, (name, spec) in enumerate(study_spec().get("protocols", {}).items()):
        d = out / spec["dir"]
        if d.is_dir():  # its replacement seeds are those its own rule asked for, read from its own runs
            data = StudyData(d, n_seeds, study_extra_seeds(d, plans, n_seeds))
            found.append(_Protocol(name, spec, d, data, RunNotes(data, prefix=f"P{i + 1}.")))
    return found


def protocol_part(p: Any, ctx: _Context) -> list[str]:
    """Under a table, its rows under each earlier protocol that ran its section, with their run notes."""
    part: list[str] = []
    for pr in ctx.protocols:
        if p.entry.section not in pr.spec["sections"] or p.file is None or not (pr.out / p.file.stem).is_dir():
            continue
        alt = replace(p, sweep_dir=pr.out / p.file.stem)
        rows, tally = table_rows(alt, ctx.refs, pr.data, pr.counted, pr.notes,
                                 pr.spec.get("explain", {}).get(p.entry.key, {}), counts=False)
        pr.tally.add(tally)
        where = f"{pr.spec['dir']}/{p.file.stem}"
        part += [f"**The same rows under an earlier protocol**: {pr.spec['title']} (its published runs, "
                 f"`{where}/`; shown, never counted)", "", markdown_table(ROW_HEADER, rows), "", *pr.notes.flush()]
        # its claims, each side read from that protocol's runs
        by_key = {k: replace(q, sweep_dir=pr.out / q.file.stem) if q.file is not None else q
                  for k, q in ctx.by_key.items()}
        claims, _, _ = claim_rows(alt, by_key, ctx.refs, pr.data)
        if claims:
            part += [f"**Claims of {p.entry.label} under that protocol** (not counted)", "",
                     markdown_table(CLAIM_HEADER, claims), ""]
        part += [f"Every run of this part under that protocol: [{where}/report.md]({where}/report.md)", ""]
    return part


@dataclass
class _Context:
    """What every plan's part of the report reads, and what the parts share as they are written in order."""

    out: Path
    data: StudyData
    refs: list[dict[str, Any]]
    by_key: dict[str, Any]                                  # tables ("5") and figure groups ("dcgan")
    notes: RunNotes
    counted: dict[tuple[str, str, str], str] = field(default_factory=dict)  # a row read once is counted once
    figures_shown: dict[Path, str] = field(default_factory=dict)  # a sweep serving several tables: figures once
    protocols: list[_Protocol] = field(default_factory=list)  # earlier protocols, shown beside the tables
    metric_readings_shown: set[tuple[str, str, str]] = field(default_factory=set)  # (sweep, point, metric): once


def _plan_part(p: Any, ctx: _Context) -> tuple[list[str], Tally | None]:
    """One table's (or figure group's) part of its section, and its tally (None: a figure group with no claim)."""
    e, data, refs = p.entry, ctx.data, ctx.refs
    part = [f"### {e.label}: {e.caption}" if e.is_table else f"### {e.caption}", ""]
    if p.note:
        part += [f"*{p.note}.*", ""]
    if e.spec.get("note"):
        part += [e.spec["note"].strip(), ""]
    tally: Tally | None
    if e.is_table:
        rows, tally = table_rows(p, refs, data, ctx.counted, ctx.notes)
        part += [markdown_table(ROW_HEADER, rows), ""]
        for name, point_map in e.spec.get("readings", {}).items():
            part += [f"**Reading: {name}**", "",
                     markdown_table(ROW_HEADER, reading_rows(p, refs, data, point_map, ctx.notes)), ""]
        for reading in study_spec().get("metric_readings", {}).values():
            other = metric_reading_rows(p, refs, data, reading["metrics"], ctx.metric_readings_shown)
            if other:
                part += [f"**Reading: {reading['title']}** (the same runs, not counted)", "",
                         markdown_table(ROW_HEADER, other), ""]
        part += ctx.notes.flush()
        tally.claims = claims_part(p, ctx.by_key, refs, data, part)
        part += protocol_part(p, ctx)
        fig = epoch_figure(p, refs, data, ctx.out)
        if fig:
            part += [f"![{e.label} per-epoch target accuracy]({fig})", ""]
    else:  # a figure group: the study's words about its pictures, tested as claims where they compare
        part += beside_study(p, data)
        tally = Tally(claims=claims_part(p, ctx.by_key, refs, data, part))
        tally = tally if tally.claims else None
    part += _sweep_figures(p, ctx.out, ctx.figures_shown, data, "" if e.is_table else point_table(p, data))
    return part, tally


def _header(n_seeds: int, quick: bool, failures: list[str]) -> list[str]:
    """The report's title and how to read it."""
    md = ["# The study, reproduced: RDFIA Section 2, Report 2", "",
          f"`dlapps study{' --quick' if quick else ''}`, {n_seeds} seed(s) per training point. *Study reported*: the "
          "report's own numbers (`src/dlapps/study/reference.csv`); *dlapps*: mean ± sd over seeds with `--preset "
          f"study` ({SD_NOTE}); *verdict*: |difference| within the row's fixed tolerance (accuracies ± 0.05, domain "
          "accuracies ± 0.10), a seed that diverged or collapsed and a point that never ran count as misses; the "
          "last column says whether the study's number lies inside dlapps' 95 % prediction interval over seeds "
          "(where one more seed would land). Losses are shown without a verdict: a loss is unbounded and its "
          "spread over seeds is wide (Table 5's target class loss moves by ±0.3 between seeds), so a fixed band would "
          "be arbitrary; the accuracies carry the verdict. A row that reads the same runs as an earlier table is "
          "counted once. Substitute rows (another network) are shown and never counted. Accuracies are fractions.",
          ""]
    if quick:
        md += ["**Quick mode**: embedded data and shortened runs; the numbers check the pipeline and are "
               "**not comparable** with the study's.", ""]
    if failures:
        md += ["**Unfinished**: " + "; ".join(failures), ""]
    return md


def _summary_box(summary: list[list[str]], total: Tally, protocols: list[_Protocol]) -> list[str]:
    """The summary that opens the report: rows within band, stopped seeds, claims by verdict, one line per table."""
    if not summary:
        return []
    share = f" ({100 * total.within / total.judged:.0f} %)" if total.judged else ""
    md = ['<div class="glance" markdown="1">', "", "## Summary", "",
          f"**Rows**: {total.within} of {total.judged} judged rows within band{share}; {total.outside} outside; "
          f"{total.stopped} with stopped or collapsed seeds" + (f" ({total.stopped_text()})" if total.stopped
                                                                else "") +
          f"; {total.not_run} not run; substitutes: {total.substitutes} rows, not judged. **Seeds**: "
          f"{len(total.stopped_runs)} of the {len(total.runs)} runs the judged rows read stopped or collapsed. "
          f"**Claims**: {total.claims_text()}.", ""]
    if total.unexplained:
        md += [f"Misses not yet explained in `study.toml`: {len(total.unexplained)}.", ""]
    for pr in protocols:
        if pr.tally.judged:
            md += [f"**Under an earlier protocol** ({pr.spec['title']}; not counted above): {pr.tally.rows_text()}. "
                   f"{pr.spec.get('why', '')}".rstrip(), ""]
    return md + [markdown_table(["table", "rows", "claims", "how it ran"], summary), "", "</div>", ""]


def screens_part(out: Path) -> list[str]:
    """The screens published in ``out/diagnostics`` (a screen not yet started is not shown)."""
    part: list[str] = []
    for name, spec in study_spec().get("screens", {}).items():
        d = out / "diagnostics" / name
        if d.is_dir():
            part += screen_section(name, spec, d, out / spec["published_sweep"])
    return ["## Diagnostics: screens before a rerun", "", *part] if part else []


def _sweep_figures(p: Any, out: Path, figures_shown: dict[Path, str], data: StudyData,
                   point_rows: str = "") -> list[str]:
    """Markdown for the sweep behind one entry: its comparison table where the study's rows do not show
    it, its figures (a figure group: each point's first-seed figures) and a link to every run. A sweep
    serving several tables is shown once; later entries point back to it."""
    e = p.entry
    if p.sweep_dir is None:
        return []
    if p.sweep_dir in figures_shown:
        return [f"Figures and every run of this sweep: under {figures_shown[p.sweep_dir]}.", ""]
    if not p.sweep_dir.exists():
        return []
    figures_shown[p.sweep_dir] = e.label
    part: list[str] = []
    comp = p.sweep_dir / "tables" / "comparison.md"
    if not e.is_table and point_rows:  # from the finished seeds, so a sweep still running shows what it has
        part += [f"Every point, over its finished seeds (mean ± sd; {SD_NOTE}):", "", point_rows, ""]
    elif comp.exists() and (not e.is_table or not p.judged or p.note):
        part += ["Every point of the sweep that ran:", "", comp.read_text().strip(), ""]
    for fig in ("comparison", "histories"):
        f = p.sweep_dir / "figures" / f"{fig}.png"
        if f.exists():
            part += [f"![{e.label} {fig}]({f.relative_to(out).as_posix()})", ""]
    if point_rows:  # a training figure group: each figure of the points side by side, as the study shows them
        for figure in ("samples", "losses"):
            montage = point_montage(p, data, out, figure)
            if montage:
                part += [f"![{e.label} {figure}]({montage})", ""]
    elif not e.is_table:  # other figure groups: the figures of each point's first seed
        for run_dir in sorted(d for d in p.sweep_dir.iterdir() if d.is_dir() and d.name.endswith("-s0")
                              and status(d) == "complete"):
            figs = sorted((run_dir / "figures").glob("*.png"),
                          key=lambda f: (next((i for i, k in enumerate(SHOWN_FIRST) if k in f.stem), len(SHOWN_FIRST)),
                                         f.stem))
            for f in figs[:2]:
                part += [f"![{run_dir.name} {f.stem}]({f.relative_to(out).as_posix()})", ""]
    part += [f"Every run of this part: [{p.sweep_dir.name}/report.md]({p.sweep_dir.name}/report.md) (its HTML: `dlapps "
             f"report {p.sweep_dir.name}`)", ""]
    return part

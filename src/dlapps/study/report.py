"""The study's report: sections 2-a .. 2-de, each table with *study reported* | *dlapps* (mean ± sd over
seeds) | *difference* | *within band?*, the figures that go with it, and links to every sweep's own report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dlapps.report import _md_to_html, markdown_table
from dlapps.runs import atomic_write_text

SECTION_ORDER = ("2a", "2b", "2c", "2de")
SHOWN_FIRST = ("samples", "classviz", "saliency", "fool", "tsne")  # the figures a figure group is about


def _fmt_ref(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _fmt_ours(vals: list[float]) -> str:
    if not vals:
        return "—"
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{m:.4f} (1 seed)"
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return f"{m:.4f} ± {sd:.4f} ({len(vals)} seeds)"


def table_rows(plan: Any, refs: list[dict[str, Any]], seeds: list[int]) -> tuple[list[list[str]], dict[str, int]]:
    """One table's rows and a tally {rows, compared, within}."""
    from dlapps.study.results import point_failures, point_values, study_seeds
    from dlapps.sweep import load_spec

    spec = None
    if plan.file is not None:
        spec = load_spec(plan.file)
        spec.seeds = study_seeds(spec, len(seeds)) or spec.seeds
    sweep_dir = plan.sweep_dir
    rows, tally = [], {"rows": 0, "compared": 0, "within": 0}
    for r in refs:
        if r["table"] != plan.entry.key:
            continue
        tally["rows"] += 1
        vals: list[float] = []
        point = plan.point_map.get(r["point"], r["point"])
        if spec is not None and r["metric"] and plan.comparable:
            vals = point_values(sweep_dir, spec, plan.quick, point, r["metric"])
        diff = within = "—"
        if vals and isinstance(r["value"], float):
            d = sum(vals) / len(vals) - r["value"]
            diff = f"{d:+.4f}"
            if plan.quick:  # shortened runs on embedded data: shown, never judged against the study
                within = "not judged (quick)"
            elif r["band"] is not None:
                tally["compared"] += 1
                ok = abs(d) <= r["band"]
                tally["within"] += ok
                within = f"{'yes' if ok else 'no'} (±{r['band']:g})"
        label = r["row"] + (f" → `{point}`" if plan.substitute and point else "")
        ours = _fmt_ours(vals)
        if spec is not None and r["metric"]:
            failed = point_failures(sweep_dir, spec, plan.quick, point)
            if failed:  # a run that stopped itself is a result too (the study saw the same for large λ)
                ours = "; ".join(([ours] if vals else []) + failed)
        rows.append([label, r["column"], _fmt_ref(r["value"]), ours, diff, within, r["pages"],
                     r.get("note") or ""])
    # rows the study did not run but a reader needs, e.g. λ = 0 under the same network and protocol
    for label, point in plan.entry.spec.get("extra_points", {}).items():
        for r in refs:
            if (r["table"] == plan.entry.key and r["point"] == "" and r["metric"] and spec is not None
                    and "acc" in r["metric"]):
                vals = point_values(sweep_dir, spec, plan.quick, point, r["metric"])
                rows.append([f"{label}: {r['row']}", r["column"], "not in the study", _fmt_ours(vals), "—", "—", "",
                             f"`{point}`"])
    return rows, tally


def write_study_report(out: Path, plans: list[Any], refs: list[dict[str, Any]], n_seeds: int, cfg: Any,
                       wall_s: float, failures: list[str]) -> tuple[Path, Path]:
    """study-report.md/.html in ``out``: a summary box, then each section's tables and figures."""
    from dlapps.study.results import study_spec

    for p in plans:
        p.sweep_dir = out / p.file.stem if p.file is not None else None
    seeds = list(range(n_seeds))
    sections: dict[str, list[str]] = {s: [] for s in SECTION_ORDER}
    summary = []
    figures_shown: dict[Path, str] = {}  # a sweep serving several tables shows its figures once
    for p in plans:
        e = p.entry
        part = [f"### {e.label}: {e.caption}" if e.is_table else f"### {e.caption}", ""]
        if p.note:
            part += [f"*{p.note}.*", ""]
        if e.spec.get("note"):
            part += [e.spec["note"].strip(), ""]
        if e.is_table:
            rows, tally = table_rows(p, refs, seeds)
            part += [markdown_table(["row", "column", "study reported", "dlapps", "difference", "within band?",
                                     "pages", "note"], rows), ""]
            summary.append([e.label, e.caption,
                            f"{tally['within']}/{tally['compared']} (of {tally['rows']} rows)" if tally["compared"]
                            else "—", p.note or ("substitute" if p.substitute else "")])
        part += _sweep_figures(p, out, figures_shown)
        sections[e.section] += part
    titles = study_spec()["sections"]
    md = ["# The study, reproduced: RDFIA Section 2, Report 2", "",
          f"`dlapps study` {'--quick ' if cfg.quick else ''}— {n_seeds} seed(s) per training point, "
          f"{wall_s / 60:.1f} min of running in this call. *Study reported*: the report's own numbers "
          "(`src/dlapps/study/reference.csv`); *dlapps*: mean ± sd over seeds with `--preset study`; "
          "*within band*: |difference| within the row's tolerance. Accuracies are fractions.", ""]
    if cfg.quick:
        md += ["**Quick mode**: embedded data and shortened runs; the numbers check the pipeline and are "
               "**not comparable** with the study's.", ""]
    if failures:
        md += ["**Unfinished**: " + "; ".join(failures), ""]
    if summary:
        md += ["## Summary", "", markdown_table(["table", "caption", "rows within band", "how it ran"], summary), ""]
    for s in SECTION_ORDER:
        if sections[s]:
            md += [f"## {titles[s]['title']}", ""] + sections[s]
    text = "\n".join(md)
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, text)
    atomic_write_text(html_path, _md_to_html(text, out))
    return md_path, html_path


def _sweep_figures(p: Any, out: Path, figures_shown: dict[Path, str]) -> list[str]:
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
    if comp.exists() and (not e.is_table or p.quick or p.substitute or p.note):
        part += ["Every point of the sweep that ran:", "", comp.read_text().strip(), ""]
    for fig in ("comparison", "histories"):
        f = p.sweep_dir / "figures" / f"{fig}.png"
        if f.exists():
            part += [f"![{e.label} {fig}]({f.relative_to(out).as_posix()})", ""]
    if not e.is_table:  # figure groups: the figures of each point's first seed
        for run_dir in sorted(d for d in p.sweep_dir.iterdir() if d.is_dir() and d.name.endswith("-s0")):
            figs = sorted((run_dir / "figures").glob("*.png"),
                          key=lambda f: (not any(k in f.stem for k in SHOWN_FIRST), f.stem))
            for f in figs[:2]:
                part += [f"![{run_dir.name} {f.stem}]({f.relative_to(out).as_posix()})", ""]
    part += [f"Every run of this part: [{p.sweep_dir.name}/report.html]({p.sweep_dir.name}/report.html)", ""]
    return part

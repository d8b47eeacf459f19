"""Tables and reports: Markdown for pasting, a self-contained HTML (figures embedded) for reading.

A report is rebuilt from a run dir alone (config.json, metrics.json, summary.md, tables/, figures/),
so ``dlapps report RUN...`` can regenerate it at any time and combine several runs into one.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, Sequence

from dlapps import DlappsError
from dlapps.runner.hooks import hooks_of
from dlapps.runner.runs import atomic_write_text, metric, read_run_json
from dlapps.runner.tables import fmt, markdown_table  # noqa: F401  (re-exported: report.markdown_table)


def _scalar_metrics(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested metrics to ``a.b`` keys, keeping scalars only (lists belong in tables)."""
    out: list[tuple[str, Any]] = []
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _scalar_metrics(v, key + ".")
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out.append((key, v))
    return out


Headline = tuple[str, str, str]  # (label, value, what it compares against)


def headlines(run: Path) -> list[Headline]:
    """A finished run's headline numbers (label, value, context); none for an unfinished run."""
    run = Path(run)
    if not (run / "metrics.json").exists():
        return []
    cfg = read_run_json(run / "config.json")
    m = read_run_json(run / "metrics.json")
    out = []
    # each app declares its commands' headline numbers (runner.hooks); a run of an app not imported shows none
    for label, key, context in hooks_of(cfg.get("app")).headlines.get(cfg.get("command"), []):
        v = metric(m, key)
        if v is not None:
            out.append((label, fmt(v), context(m)))
    if m.get("diverged"):
        out.append(("stopped", "diverged", str(m.get("diverged_reason", "NaN loss or collapsed classifier"))))
    return out


def glance_md(items: Sequence[tuple[str, str, str, str]]) -> str:
    """The summary box that opens a report: (label, value, context, link) rows; a link is '#anchor' or ''."""
    rows = [(f"[{label}]({link})" if link else label, f"**{value}**", context) for label, value, context, link in items]
    return ('<div class="glance" markdown="1">\n\n**At a glance**\n\n'
            + markdown_table(["", "value", "compared with"], rows) + "\n\n</div>\n")


def run_anchor(run: Path) -> str:
    return "run-" + re.sub(r"[^a-z0-9]+", "-", Path(run).name.lower()).strip("-")


def run_section_md(run: Path, level: int = 2, figure_links: bool = True) -> str:
    """The Markdown section of one run: summary, key metrics, tables, figures, config."""
    run = Path(run)
    if not (run / "config.json").exists():
        raise DlappsError(f"{run} is not a dlapps run dir (no config.json)")
    cfg = read_run_json(run / "config.json")
    h = "#" * level
    parts = [f"{h} {cfg.get('app', '?')} {cfg.get('command', '?')} — `{run.name}` {{#{run_anchor(run)}}}", ""]
    if (run / "summary.md").exists():
        parts += [(run / "summary.md").read_text().strip(), ""]
    if (run / "metrics.json").exists():
        scal = _scalar_metrics(read_run_json(run / "metrics.json"))
        if scal:
            parts += [f"{h}# Metrics", "", markdown_table(["metric", "value"], scal[:60]), ""]
    else:
        parts += ["*No metrics.json: the run did not finish.*", ""]
    tables = sorted((run / "tables").glob("*.md")) if (run / "tables").exists() else []
    if tables:
        parts += [f"{h}# Tables", ""]
        for t in tables:
            parts += [t.read_text().strip(), ""]
    figs = sorted((run / "figures").glob("*.png")) if (run / "figures").exists() else []
    if figs and figure_links:
        parts += [f"{h}# Figures", ""]
        for fpath in figs:
            parts += [f"![{fpath.stem}]({fpath.relative_to(run).as_posix()})", ""]
    parts += [f"{h}# Configuration", "", "```json",
              json.dumps({k: cfg.get(k) for k in ("options", "data_source", "data_sources", "model",
                                                   "device", "seed") if k in cfg}, indent=1),
              "```", ""]
    return "\n".join(parts)


def md_to_html(md_text: str, base: Path, inline_figures: bool = True) -> str:
    """Markdown -> HTML with every local PNG inlined as a data URI (one self-contained file), or, with
    ``inline_figures=False``, linked beside it (a report kept in git: the PNGs are committed once, not again
    inside every version of the HTML)."""
    import markdown

    body = markdown.markdown(md_text, extensions=["tables", "fenced_code", "attr_list", "md_in_html", "toc"])
    # figures decode lazily, off the main thread: a report with 20 figures shows its top at once
    body = body.replace("<img ", '<img loading="lazy" decoding="async" ')

    def inline(m: re.Match[str]) -> str:
        src = html.unescape(m.group(1))
        p = (base / src)
        if p.suffix.lower() == ".png" and p.exists():
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            return f'src="data:image/png;base64,{data}"'
        return m.group(0)

    if inline_figures:
        body = re.sub(r'src="([^"]+)"', inline, body)
    # a table wider than the page (a sweep's many metrics) scrolls on its own instead of running off the page
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
             "line-height:1.45}table{border-collapse:collapse;margin:1em 0;display:block;max-width:100%;"
             "overflow-x:auto}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}img{max-width:100%}"
             "pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:85%}"
             ".glance{border:2px solid #2a6;border-radius:8px;padding:.2em 1em;margin:1em 0;background:#f4fbf6}"
             ".glance table{margin:.4em 0}.glance td{text-align:left}.toc{font-size:90%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>dlapps report</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")


def build_report(runs: Sequence[Path], out_dir: Path | None = None, title: str | None = None,
                 intro: str = "", glance: Sequence[tuple[str, str, str, str]] | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` for one run (into it) or several (into ``out_dir``).

    Every report opens with a summary box: ``glance`` rows (label, value, compared with, link) when
    given, else each run's headline numbers linked to its section; a multi-run report then has a table
    of contents."""
    runs = [Path(r) for r in runs]
    if not runs:
        raise DlappsError("no run dirs given")
    for r in runs:
        if not (r / "config.json").exists():
            raise DlappsError(f"{r} is not a dlapps run dir (no config.json)")
    single = len(runs) == 1 and out_dir is None
    out_dir = Path(out_dir) if out_dir else (runs[0] if single else runs[0].parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = _report_title(runs[0], title) if single else (title or "dlapps report")
    parts = [f"# {title}", ""]
    if glance is None:
        glance = [(f"{label}" + ("" if single else f" ({r.name})"), value, context, f"#{run_anchor(r)}")
                  for r in runs for label, value, context in headlines(r)[: (3 if single else 1)]]
    if glance:
        parts += [glance_md(glance), ""]
    if intro:
        parts += [intro.strip(), ""]
    if not single:
        parts += ["**Contents**", "", '<div class="toc" markdown="1">', "",
                  *[f"- [{_run_title(r)}](#{run_anchor(r)})" for r in runs], "", "</div>", ""]
    for r in runs:
        section = run_section_md(r, level=2)
        # figure links are relative to the run dir; re-base them on the report's folder
        rel = Path(_relpath(r, out_dir))
        section = re.sub(r"\]\(([^)]+\.png)\)", lambda m: f"]({(rel / m.group(1)).as_posix()})", section)
        parts.append(section)
    md_text = "\n".join(parts)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, md_text)
    atomic_write_text(html_path, md_to_html(md_text, out_dir))
    return md_path, html_path


def _report_title(run: Path, title: str | None) -> str:
    """A single run's report title: the one its command gave (kept in config.json, so `dlapps report RUN`
    rebuilds the same report), else the app and command."""
    cfg = read_run_json(Path(run) / "config.json")
    if title is None:
        return cfg.get("report_title") or f"{cfg.get('app', '?')} {cfg.get('command', '?')}"
    if cfg.get("report_title") != title:
        cfg["report_title"] = title
        atomic_write_text(Path(run) / "config.json", json.dumps(cfg, indent=2, allow_nan=True) + "\n")
    return title


def _run_title(run: Path) -> str:
    cfg = read_run_json(Path(run) / "config.json")
    return f"{cfg.get('app', '?')} {cfg.get('command', '?')} — {Path(run).name}"


def _relpath(target: Path, start: Path) -> str:
    import os

    return os.path.relpath(Path(target).resolve(), Path(start).resolve())


def expand_runs(paths: Sequence[Path]) -> list[Path]:
    """Run dirs as given; a folder of run dirs (a sweep or ``runs/``) expands to its runs in order."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / "config.json").exists():
            out.append(p)
        else:
            kids = sorted(c for c in p.iterdir() if (c / "config.json").exists())
            if not kids:
                raise DlappsError(f"{p} is neither a run dir nor a folder of run dirs")
            out += kids
    return out


def run_summary_html(run: Path, max_figures: int = 4) -> str:
    """A run as a notebook shows it (``RunResult._repr_html_``): headline numbers, summary, and the
    first figures as thumbnails, with the run dir's path to open the full report."""
    import markdown

    run = Path(run)
    cfg = read_run_json(run / "config.json") if (run / "config.json").exists() else {}
    parts = [f"<b>{html.escape(str(cfg.get('app', '?')))} {html.escape(str(cfg.get('command', '?')))}</b> — "
             f"<code>{html.escape(str(run))}</code>"]
    heads = headlines(run) if (run / "config.json").exists() else []
    if heads:
        parts.append("<table>" + "".join(f"<tr><td>{html.escape(a)}</td><td><b>{html.escape(b)}</b></td>"
                                         f"<td>{html.escape(c)}</td></tr>" for a, b, c in heads) + "</table>")
    if (run / "summary.md").exists():
        parts.append(markdown.markdown((run / "summary.md").read_text()))
    for f in sorted((run / "figures").glob("*.png"))[:max_figures]:
        data = base64.b64encode(f.read_bytes()).decode("ascii")
        parts.append(f'<img loading="lazy" title="{html.escape(f.stem)}" style="max-width:320px;margin:2px" '
                     f'src="data:image/png;base64,{data}">')
    parts.append(f"<div><small>full report: <code>{html.escape(str(run / 'report.html'))}</code></small></div>")
    return '<div class="dlapps-run">' + "\n".join(parts) + "</div>"

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
from typing import Any, Iterable, Sequence

from dlapps import DlappsError
from dlapps.runs import atomic_write_text


def fmt(v: Any) -> str:
    """Numbers as a reader wants them in a table: 4 significant digits, ints with separators."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}"
    return str(v)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-style Markdown table; cells are formatted with :func:`fmt`."""
    def cell(v: Any) -> str:
        return fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, header)) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


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


def run_section_md(run: Path, level: int = 2, figure_links: bool = True) -> str:
    """The Markdown section of one run: summary, key metrics, tables, figures, config."""
    run = Path(run)
    if not (run / "config.json").exists():
        raise DlappsError(f"{run} is not a dlapps run dir (no config.json)")
    cfg = json.loads((run / "config.json").read_text())
    h = "#" * level
    parts = [f"{h} {cfg.get('app', '?')} {cfg.get('command', '?')} — `{run.name}`", ""]
    if (run / "summary.md").exists():
        parts += [(run / "summary.md").read_text().strip(), ""]
    if (run / "metrics.json").exists():
        scal = _scalar_metrics(json.loads((run / "metrics.json").read_text()))
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


def _md_to_html(md_text: str, base: Path) -> str:
    """Markdown -> HTML with every local PNG inlined as a data URI (one self-contained file)."""
    import markdown

    body = markdown.markdown(md_text, extensions=["tables", "fenced_code"])

    def inline(m: re.Match[str]) -> str:
        src = html.unescape(m.group(1))
        p = (base / src)
        if p.suffix.lower() == ".png" and p.exists():
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            return f'src="data:image/png;base64,{data}"'
        return m.group(0)

    body = re.sub(r'src="([^"]+)"', inline, body)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
             "line-height:1.45}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:3px 8px;text-align:right}th{background:#f3f3f3}img{max-width:100%}"
             "pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:85%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>dlapps report</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")


def build_report(runs: Sequence[Path], out_dir: Path | None = None, title: str = "dlapps report",
                 intro: str = "") -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` for one run (into it) or several (into ``out_dir``)."""
    runs = [Path(r) for r in runs]
    if not runs:
        raise DlappsError("no run dirs given")
    for r in runs:
        if not (r / "config.json").exists():
            raise DlappsError(f"{r} is not a dlapps run dir (no config.json)")
    single = len(runs) == 1 and out_dir is None
    out_dir = Path(out_dir) if out_dir else (runs[0] if single else runs[0].parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"# {title}", ""]
    if intro:
        parts += [intro.strip(), ""]
    for r in runs:
        section = run_section_md(r, level=2)
        # figure links are relative to the run dir; re-base them on the report's folder
        rel = Path(_relpath(r, out_dir))
        section = re.sub(r"\]\(([^)]+\.png)\)", lambda m: f"]({(rel / m.group(1)).as_posix()})", section)
        parts.append(section)
    md_text = "\n".join(parts)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, md_text)
    atomic_write_text(html_path, _md_to_html(md_text, out_dir))
    return md_path, html_path


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

"""Numbers and tables as a reader wants them: 4 significant digits, GitHub Markdown tables."""

from __future__ import annotations

from typing import Any, Iterable, Sequence


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


def pct(v: Any) -> str:
    """A fraction as a percentage with one decimal ('—' for a missing number)."""
    return f"{100 * v:.1f} %" if isinstance(v, (int, float)) and not isinstance(v, bool) else "—"

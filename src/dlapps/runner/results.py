"""What every ``run_<command>`` returns (one class for all apps), shaped for notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlapps import DlappsError
from dlapps.runner.report import run_summary_html


@dataclass
class RunResult:
    """What every ``run_<command>`` returns: the run dir and its metrics, with accessors for a notebook.

    ``result.metrics`` (the metrics.json dict), ``result.table("name")`` (a pandas DataFrame of
    tables/name.csv), ``result.tables`` and ``result.figures`` (paths); in Jupyter the result shows
    itself as its summary, headline metrics and figure thumbnails (``_repr_html_``).
    """

    run_dir: Path
    metrics: dict[str, Any]

    @property
    def tables(self) -> list[str]:
        """Names of the run's tables (tables/<name>.csv)."""
        return sorted(p.stem for p in (Path(self.run_dir) / "tables").glob("*.csv"))

    @property
    def figures(self) -> list[Path]:
        """The run's figures (PNG files), in name order."""
        return sorted((Path(self.run_dir) / "figures").glob("*.png"))

    def table(self, name: str | None = None) -> Any:
        """One table as a pandas DataFrame (the run's only or first table when ``name`` is None)."""
        import pandas as pd

        names = self.tables
        if not names:
            raise DlappsError(f"{self.run_dir} has no tables")
        if name is None:
            name = names[0]
        if name not in names:
            raise DlappsError(f"no table {name!r} in {self.run_dir}; tables: {', '.join(names)}")
        return pd.read_csv(Path(self.run_dir) / "tables" / f"{name}.csv")

    def _repr_html_(self) -> str:
        return run_summary_html(Path(self.run_dir))

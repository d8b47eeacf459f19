"""The study dlapps reproduces: its reported numbers (reference.csv), its sweeps, its report."""

from dlapps.study.run import StudyConfig, reference_rows, run_study

__all__ = ["StudyConfig", "reference_rows", "run_study"]

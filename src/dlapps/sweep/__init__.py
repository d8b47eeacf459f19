"""Sweeps: a grid (and/or list) of runs of one dlapps command, repeated over seeds, run locally in
parallel processes or as Ray tasks, aggregated into one comparison table and report.

A sweep file (TOML, or YAML if PyYAML is installed)::

    command = "adapt dann"              # any dlapps command that writes a run dir
    seeds = [0, 1]                      # repeats of every point
    metrics = ["target.class_acc", "source.class_acc"]   # table columns (dotted metrics.json keys)
    [base]                              # options of every point (CLI names without '--')
    epochs = 20
    [grid]                              # cartesian product
    lambda-schedule = ["exp", "linear"]
    [[points]]                          # and/or explicit points
    lambda-multiplier = 0.1
    [quick]                             # overrides for `dlapps sweep FILE --quick` (a small machine)
    epochs = 2

``settings-from = "DIR"`` names a finished selection sweep (one with ``select-by``): the options of the point its
validator picked join [base], read from its files, so a benchmark runs what was chosen without anyone copying it.

A text value may name the point's seed as ``{seed}`` (``from = "runs/dann/base-s{seed}"``): one sweep's runs start
from another's, seed by seed.

Each point is a normal run dir ``SWEEP/<point>-s<seed>``. Points already complete are skipped,
interrupted ones are resumed, so rerunning a killed sweep finishes only what is missing.
"""

from dlapps.sweep.aggregate import aggregate  # noqa: F401
from dlapps.sweep.execute import run_sweep  # noqa: F401
from dlapps.sweep.spec import Point, SweepSpec, apply_settings_from, argv_for, chosen_settings, expand, load_spec, validate_points  # noqa: F401,E501
from dlapps.sweep.state import RunState, read_metrics, status  # noqa: F401

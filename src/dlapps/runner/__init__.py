"""The runner: run directories, options and their command-line form, presets, reports, tables, figures, TensorBoard,
and the one training loop (fit). Imports only dlapps.core; an app plugs in through runner.hooks."""

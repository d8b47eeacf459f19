"""``python -m dlapps`` runs the command line."""

from dlapps.cli import main

main()

"""Maintainer tools: ``python -m dlapps.tools.check_structure`` (import cycles)."""

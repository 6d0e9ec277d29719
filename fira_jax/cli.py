"""Moved to :mod:`fira_jax.lab.cli` (the ``fira-jax`` command tree); kept for
``python -m fira_jax.cli``."""

import sys

from fira_jax.lab.cli import COMMANDS, DEPRECATED, GROUPS, build_parser, main

__all__ = ["COMMANDS", "DEPRECATED", "GROUPS", "build_parser", "main"]

if __name__ == "__main__":
  sys.exit(main())

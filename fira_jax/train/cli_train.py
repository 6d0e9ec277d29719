"""Deprecated: moved to :mod:`fira_jax.train.cli` (``fira-jax train``); re-exported here for one
minor release."""

from fira_jax.train.cli import add_arguments, run

__all__ = ["add_arguments", "run"]

"""Moved to :mod:`fira_jax.lab.plot` (``fira-jax plot`` reads any package's metrics file)."""

from fira_jax.lab.plot import add_arguments, plot_runs, run

__all__ = ["add_arguments", "plot_runs", "run"]

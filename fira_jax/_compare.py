"""Deprecated: moved to :mod:`fira_jax.train.cli_compare` (``fira-jax fira compare``);
``run_comparison`` is re-exported here for one minor release."""

from fira_jax.train.cli_compare import add_arguments, format_table, run, run_comparison

__all__ = ["add_arguments", "format_table", "run", "run_comparison"]

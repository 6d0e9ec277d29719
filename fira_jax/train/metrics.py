"""Moved to :mod:`fira_jax.lab.metrics` (shared by every package); re-exported here."""

from fira_jax.lab.metrics import MetricsLog, perplexity, progress_bar, read_metrics

__all__ = ["MetricsLog", "perplexity", "progress_bar", "read_metrics"]

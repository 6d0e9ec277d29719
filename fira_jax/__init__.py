"""fira-jax: Fira, GaLore, APOLLO and LoRA as composable optax transforms, in JAX.

The assembled optimizers are :func:`fira`, :func:`galore`, :func:`apollo` and
:func:`apollo_mini`; their pieces are
``optax.GradientTransformation``\\ s usable in any ``optax.chain``.
"""

import importlib.metadata as _metadata

from optax.contrib import GaLoreDimensionNumbers

from fira_jax._src.adam import (
  DecayAfterUpdateState,
  ScaleByAdamMomentsState,
  ScaleByBiasCorrectionState,
  add_decayed_weights_after_update,
  scale_by_adam_bias_correction,
  scale_by_adam_moments,
)
from fira_jax._src.alias import fira, galore
from fira_jax._src.apollo import ScaleByApolloState, apollo, apollo_mini, scale_by_apollo
from fira_jax._src.diagnostics import fira_statistics
from fira_jax._src.memory import optimizer_state_bytes
from fira_jax._src.projection import LowRankProjectionState, scale_by_low_rank_projection
from fira_jax._src.projectors import (
  ProjectorFn,
  eigh_projector,
  randomized_svd_projector,
  svd_projector,
)
from fira_jax._src.residual import (
  LimitNormGrowthState,
  fira_residual,
  limit_norm_growth,
  scale_by_norm_ratio,
)


def _version() -> str:
  """The installed distribution's version; a source tree that is not installed reads its
  ``pyproject.toml``."""
  try:
    return _metadata.version("fira-jax")
  except _metadata.PackageNotFoundError:
    import pathlib
    import tomllib

    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
      return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
      return "0+unknown"


__version__ = _version()

__all__ = [
  "DecayAfterUpdateState",
  "GaLoreDimensionNumbers",
  "LimitNormGrowthState",
  "LowRankProjectionState",
  "ProjectorFn",
  "ScaleByAdamMomentsState",
  "ScaleByApolloState",
  "ScaleByBiasCorrectionState",
  "add_decayed_weights_after_update",
  "apollo",
  "apollo_mini",
  "eigh_projector",
  "fira",
  "fira_residual",
  "fira_statistics",
  "galore",
  "limit_norm_growth",
  "optimizer_state_bytes",
  "randomized_svd_projector",
  "scale_by_adam_bias_correction",
  "scale_by_adam_moments",
  "scale_by_apollo",
  "scale_by_low_rank_projection",
  "scale_by_norm_ratio",
  "svd_projector",
]

"""Optimizer-state memory, measured from the state pytree without allocating it."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax


def optimizer_state_bytes(tx: optax.GradientTransformation, params: Any) -> int:
  """Bytes of ``tx.init(params)``'s state, from ``jax.eval_shape`` (nothing is allocated).

  Args:
    tx: any optax transformation.
    params: the parameters: arrays or ``jax.ShapeDtypeStruct``\\ s (e.g. from
      ``jax.eval_shape`` of a model's init), so a 7B model's state is sized on a laptop.

  Returns:
    The sum over state leaves of ``size * itemsize``.
  """
  shapes = jax.eval_shape(tx.init, params)
  return int(
    sum(
      np.prod(x.shape, dtype=np.int64) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(shapes)
    )
  )

"""A shuffling batch iterator whose position is a small dict saved with the checkpoint."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class BatchIterator(Iterator[np.ndarray]):
  """Yields (batch_size, S) batches of rows of ``data``, reshuffled every epoch.

  The order of epoch e is ``default_rng([seed, e]).permutation(N)``; the last incomplete
  batch of an epoch is dropped. ``get_state()`` returns ``{"epoch", "index"}`` and
  ``set_state`` restores it, so a restored iterator yields exactly the batches the
  original would have yielded next.
  """

  def __init__(self, data: np.ndarray, batch_size: int, *, seed: int = 0, shuffle: bool = True):
    if data.ndim != 2:
      raise ValueError(f"data must be 2-D (N, S), got shape {data.shape}")
    if not isinstance(batch_size, int) or batch_size <= 0:
      raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size > data.shape[0]:
      raise ValueError(
        f"batch_size {batch_size} exceeds the {data.shape[0]} sequences available; "
        f"lower --batch-size or --seq-len, or use more data"
      )
    self.data, self.batch_size, self.seed, self.shuffle = data, batch_size, seed, shuffle
    self.epoch, self.index = 0, 0
    self._order = self._permutation(0)

  def _permutation(self, epoch: int) -> np.ndarray:
    n = self.data.shape[0]
    if not self.shuffle:
      return np.arange(n)
    return np.random.default_rng([self.seed, epoch]).permutation(n)

  @property
  def batches_per_epoch(self) -> int:
    return self.data.shape[0] // self.batch_size

  def __next__(self) -> np.ndarray:
    if self.index >= self.batches_per_epoch:
      self.epoch, self.index = self.epoch + 1, 0
      self._order = self._permutation(self.epoch)
    start = self.index * self.batch_size
    self.index += 1
    return self.data[self._order[start : start + self.batch_size]]

  def get_state(self) -> dict[str, int]:
    return {"epoch": int(self.epoch), "index": int(self.index)}

  def set_state(self, state: dict[str, int]) -> None:
    epoch, index = int(state["epoch"]), int(state["index"])
    if epoch < 0 or not 0 <= index <= self.batches_per_epoch:
      raise ValueError(f"iterator state {state} is out of range for this dataset")
    self.epoch, self.index = epoch, index
    self._order = self._permutation(epoch)

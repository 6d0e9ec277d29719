"""Device mesh and shardings: parameters and optimizer state FSDP-sharded, batches split.

The mesh has two axes, ``data`` and ``fsdp``. Every array of the training state (parameters,
moments, projectors) is sharded along ``fsdp`` on its largest dimension that the axis size
divides, and replicated over ``data``; arrays with no such dimension (scalars, small norms)
are replicated. The rule depends only on shapes, so it applies unchanged to the optimizer
state of any optax transform. Batches are split over both axes on their first dimension.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

BATCH_AXES = ("data", "fsdp")


def maybe_initialize_distributed() -> bool:
  """Calls ``jax.distributed.initialize()`` when the environment describes a multi-host job.

  Recognised: Cloud TPU pod slices (``TPU_WORKER_HOSTNAMES`` with more than one host), SLURM
  jobs with several tasks, and an explicit ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of
  process 0), which outside such a cluster needs ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``
  too (and optionally ``JAX_LOCAL_DEVICE_IDS``). Returns True when it initialised.

  Raises:
    ValueError: when ``JAX_COORDINATOR_ADDRESS`` is set with only one of ``JAX_NUM_PROCESSES``
      and ``JAX_PROCESS_ID``, or with values that are not integers.
  """
  multi_tpu = "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")
  slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
  if not (os.environ.get("JAX_COORDINATOR_ADDRESS") or multi_tpu or slurm):
    return False
  if jax.distributed.is_initialized():
    return False
  explicit = {}
  names = ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
  given = [n for n in names if os.environ.get(n)]
  if given and len(given) != len(names):
    raise ValueError(f"{' and '.join(names)} must be set together (got only {given[0]})")
  if given:
    try:
      explicit = {
        "num_processes": int(os.environ["JAX_NUM_PROCESSES"]),
        "process_id": int(os.environ["JAX_PROCESS_ID"]),
      }
    except ValueError:
      raise ValueError(f"{' and '.join(names)} must be integers") from None
  jax.distributed.initialize(**explicit)
  return True


def make_mesh(data: int = 1, fsdp: int | None = None, devices=None) -> Mesh:
  """A ``(data, fsdp)`` mesh over ``devices`` (default: all); ``fsdp`` defaults to the rest.

  Raises:
    ValueError: when ``data · fsdp`` is not the number of devices.
  """
  devices = jax.devices() if devices is None else list(devices)
  n = len(devices)
  if fsdp is None:
    if data <= 0 or n % data:
      raise ValueError(f"--mesh-data {data} must divide the {n} devices")
    fsdp = n // data
  if data * fsdp != n:
    raise ValueError(f"mesh {data}x{fsdp} needs {data * fsdp} devices, found {n}")
  # Auto axes: XLA's GSPMD propagates the shardings through the model (no per-op specs).
  auto = (AxisType.Auto, AxisType.Auto)
  return jax.make_mesh((data, fsdp), BATCH_AXES, axis_types=auto, devices=devices)


def spec_for_shape(shape: tuple[int, ...], fsdp_size: int) -> P:
  """Shards the largest dimension divisible by ``fsdp_size`` over ``fsdp`` (else replicated)."""
  if fsdp_size <= 1 or not shape:
    return P()
  dims = sorted(range(len(shape)), key=lambda i: (-shape[i], i))
  for i in dims:
    if shape[i] % fsdp_size == 0 and shape[i] >= fsdp_size:
      return P(*[("fsdp" if j == i else None) for j in range(len(shape))])
  return P()


def tree_shardings(tree, mesh: Mesh):
  """NamedShardings for every array leaf of ``tree`` (arrays or ShapeDtypeStructs)."""
  fsdp_size = mesh.shape["fsdp"]
  return jax.tree.map(lambda x: NamedSharding(mesh, spec_for_shape(x.shape, fsdp_size)), tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH_AXES))


def shard_batch(batch: np.ndarray, mesh: Mesh) -> jax.Array:
  """Places a host batch (B, S) on the mesh, split along B; every host holds the full batch.

  Raises:
    ValueError: when B is not divisible by the number of devices.
  """
  n = mesh.size
  if batch.shape[0] % n:
    raise ValueError(f"--batch-size {batch.shape[0]} must be divisible by the {n} devices")
  sharding = batch_sharding(mesh)
  return jax.make_array_from_callback(batch.shape, sharding, lambda idx: batch[idx])

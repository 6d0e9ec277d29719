"""One description of the machine a run used: CPU, cores, accelerator and library versions."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import pathlib
import platform
import subprocess

__all__ = ["cpu_model", "machine_info", "describe_machine", "git_revision"]

_PACKAGES = ("jax", "flax", "optax", "orbax-checkpoint")


@functools.cache
def cpu_model() -> str:
  """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown CPU"


def _version(name: str) -> str | None:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return None


def git_revision(cwd: str | pathlib.Path | None = None) -> str | None:
  """The short git revision of ``cwd`` (default: this package's checkout), None outside git."""
  cwd = cwd or pathlib.Path(__file__).resolve().parent
  try:
    out = subprocess.run(
      ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
    )
  except (OSError, subprocess.TimeoutExpired):
    return None
  return out.stdout.strip() or None


def machine_info() -> dict:
  """The machine as a dict: ``cpu``, ``cores``, ``platform`` (JAX's backend), ``accelerator``
  (``"N × device kind"`` or None), ``os``, ``python`` and the versions of the JAX stack."""
  import jax

  devices = jax.devices()
  accel = None
  if devices[0].platform != "cpu":
    accel = f"{len(devices)} × {devices[0].device_kind}"
  return {
    "cpu": cpu_model(),
    "cores": os.cpu_count(),
    "platform": devices[0].platform,
    "accelerator": accel,
    "os": platform.platform(),
    "python": platform.python_version(),
    "versions": {name: _version(name) for name in _PACKAGES},
  }


def describe_machine(info: dict | None = None) -> str:
  """One line naming the machine (from :func:`machine_info` unless ``info`` is given).

  Example: ``2 CPU cores (`nproc` = 2), AMD EPYC 9B14, no GPU; Python 3.11.7, jax 0.10.2,
  flax 0.12.8, optax 0.2.8, orbax-checkpoint 0.12.8``; on a GPU the accelerator reads
  ``1 × NVIDIA H200 (runs on it)``.
  """
  info = info or machine_info()
  accel = "no GPU" if info["accelerator"] is None else f"{info['accelerator']} (runs on it)"
  versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
  return (
    f"{info['cores']} CPU cores (`nproc` = {info['cores']}), {info['cpu']}, {accel}; "
    f"Python {info['python']}, {versions}"
  )

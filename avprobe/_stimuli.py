"""Tone bursts with raised-cosine ramps, levels in dBFS, and the four tasks' stimulus pairs.

Conventions: mono float32 in ``[-1, 1]``; a level is the RMS in dB relative to full scale,

.. math::

  L = 20 \\log_{10} \\sqrt{\\tfrac{1}{n} \\textstyle\\sum_t x_t^2}\\ \\text{dBFS},

computed over the clip's non-silent span (first to last non-zero sample), so zero padding does
not change it. A full-scale sine has RMS ``1/sqrt(2)``, i.e. -3.01 dBFS.
"""

from __future__ import annotations

import numpy as np

__all__ = [
  "SINE_RMS_DB",
  "check_sr",
  "check_duration",
  "raised_cosine_ramp",
  "tone",
  "rms",
  "rms_db",
  "db_to_gain",
  "pad_to",
  "click_train",
]

SINE_RMS_DB = 20.0 * np.log10(np.sqrt(0.5))  # -3.01 dBFS: the level of a full-scale sine
PEAK_LIMIT = 0.99  # every clip that does not clip on purpose stays below this peak


def check_sr(sr: int) -> int:
  """Checks a sample rate (a positive int, in Hz)."""
  if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
    raise ValueError(f"sr (sample rate) must be a positive int in Hz, got {sr!r}")
  return int(sr)


def check_duration(duration: float, name: str = "duration") -> float:
  """Checks a duration in seconds (finite and > 0)."""
  if not isinstance(duration, (int, float, np.floating)) or not np.isfinite(duration):
    raise ValueError(f"{name} must be a positive number of seconds, got {duration!r}")
  if duration <= 0:
    raise ValueError(f"{name} must be a positive number of seconds, got {duration!r}")
  return float(duration)


def db_to_gain(db: float) -> float:
  """The amplitude factor of ``db`` decibels: ``10 ** (db / 20)``."""
  return float(10.0 ** (db / 20.0))


def raised_cosine_ramp(n: int, sr: int, ramp_s: float = 0.01) -> np.ndarray:
  """An onset/offset envelope of ``n`` samples with raised-cosine ramps of ``ramp_s`` seconds.

  .. math::

    w_t = \\tfrac12 \\bigl(1 - \\cos(\\pi t / R)\\bigr) \\text{ for } t < R,\\quad
    w_t = 1 \\text{ in the middle},\\quad w_{n-1-t} = w_t,

  with ``R = round(ramp_s * sr)`` samples (halved if the burst is shorter than two ramps).

  Returns:
    A float64 array of shape ``(n,)``.
  """
  w = np.ones(n)
  r = min(int(round(ramp_s * sr)), n // 2)
  if r > 0:
    edge = 0.5 * (1.0 - np.cos(np.pi * np.arange(r) / r))
    w[:r] = edge
    w[n - r :] = edge[::-1]
  return w


def rms(x: np.ndarray) -> float:
  """The RMS ``sqrt(mean(x**2))`` over the non-silent span of ``x`` (0.0 if all silent)."""
  x = np.asarray(x, dtype=np.float64)
  nz = np.flatnonzero(x)
  if nz.size == 0:
    return 0.0
  span = x[nz[0] : nz[-1] + 1]
  return float(np.sqrt(np.mean(span**2)))


def rms_db(x: np.ndarray) -> float:
  """The level ``20 log10(rms(x))`` in dBFS (``-inf`` for silence)."""
  r = rms(x)
  return float(20.0 * np.log10(r)) if r > 0 else float("-inf")


def tone(
  freq: float,
  duration: float,
  sr: int,
  *,
  level_db: float = -20.0,
  phase: float = 0.0,
  timbre: str = "sine",
  ramp_s: float = 0.01,
) -> np.ndarray:
  """A ramped tone burst at RMS level ``level_db`` dBFS.

  ``timbre="sine"`` is ``sin(2 pi f t + phase)``; ``"harmonic"`` sums 6 harmonics with
  amplitudes ``1/k`` (``k = 1..6``; those at or above ``sr/2`` are left out). The ramped burst is
  scaled so that its RMS (ramps included) is exactly ``10 ** (level_db / 20)``.

  Returns:
    A float32 array of shape ``(round(duration * sr),)``.
  """
  sr = check_sr(sr)
  duration = check_duration(duration)
  if timbre not in ("sine", "harmonic"):
    raise ValueError(f"timbre must be 'sine' or 'harmonic', got {timbre!r}")
  if not 0 < freq < sr / 2:
    raise ValueError(f"freq must be in (0, sr/2) = (0, {sr / 2}) Hz, got {freq!r}")
  n = int(round(duration * sr))
  t = np.arange(n) / sr
  ks = [1] if timbre == "sine" else [k for k in range(1, 7) if k * freq < sr / 2]
  x = sum(np.sin(2 * np.pi * k * freq * t + k * phase) / k for k in ks)
  x = x * raised_cosine_ramp(n, sr, ramp_s)
  return (x * (db_to_gain(level_db) / rms(x))).astype(np.float32)


def pad_to(x: np.ndarray, n: int, *, offset: int = 0) -> np.ndarray:
  """``x`` placed at sample ``offset`` in ``n`` samples of silence (float32)."""
  if offset + x.shape[0] > n:
    raise ValueError(f"a clip of {x.shape[0]} samples at {offset} does not fit in {n}")
  out = np.zeros(n, np.float32)
  out[offset : offset + x.shape[0]] = x
  return out


def click_train(
  onsets_s: np.ndarray,
  total_s: float,
  sr: int,
  *,
  burst_s: float = 0.1,
  freq: float = 1000.0,
  level_db: float = -20.0,
  phases: np.ndarray | None = None,
) -> np.ndarray:
  """Tone bursts of ``burst_s`` seconds starting at ``onsets_s`` in ``total_s`` seconds.

  Each burst is :func:`tone` at ``level_db`` (its own RMS), so the count is the only cue.
  """
  n = int(round(check_duration(total_s, "total_s") * check_sr(sr)))
  out = np.zeros(n, np.float32)
  phases = np.zeros(len(onsets_s)) if phases is None else phases
  for onset, phase in zip(onsets_s, phases, strict=True):
    b = tone(freq, burst_s, sr, level_db=level_db, phase=float(phase))
    start = int(round(onset * sr))
    out[start : start + b.shape[0]] += b[: n - start]
  return out

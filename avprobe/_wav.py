"""16-bit PCM WAV files through the standard library's :mod:`wave` module.

A float sample ``x`` in ``[-1, 1]`` is stored as ``round(clip(x, -1, 1) * 32767)``, so a round
trip changes a sample by at most ``0.5 / 32767``.
"""

from __future__ import annotations

import io
import pathlib
import wave

import numpy as np

from avprobe._stimuli import check_sr

__all__ = ["write_wav", "read_wav", "decode_wav"]

_SCALE = 32767.0


def write_wav(path: str | pathlib.Path, x: np.ndarray, sr: int) -> pathlib.Path:
  """Writes mono ``x`` (float, shape ``(n,)``) as 16-bit PCM at ``sr`` Hz.

  Samples are clipped to ``[-1, 1]`` and rounded to the nearest of ``k / 32767``.

  Returns:
    The path written.
  """
  sr = check_sr(sr)
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 1:
    raise ValueError(f"x must be a mono clip of shape (n,), got shape {x.shape}")
  pcm = np.round(np.clip(x, -1.0, 1.0) * _SCALE).astype("<i2")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with wave.open(str(path), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(sr)
    w.writeframes(pcm.tobytes())
  return path


def _from_wave(w: wave.Wave_read) -> tuple[np.ndarray, int]:
  width, channels, sr = w.getsampwidth(), w.getnchannels(), w.getframerate()
  raw = w.readframes(w.getnframes())
  if width == 1:
    x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 127.0
  elif width == 2:
    x = np.frombuffer(raw, "<i2") / _SCALE
  elif width == 3:
    b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    x = np.where(v >= 1 << 23, v - (1 << 24), v) / float((1 << 23) - 1)
  elif width == 4:
    x = np.frombuffer(raw, "<i4") / float((1 << 31) - 1)
  else:
    raise ValueError(f"unsupported WAV sample width: {width} bytes")
  x = x.reshape(-1, channels).mean(axis=1)  # mono: the mean of the channels
  return x.astype(np.float32), sr


def read_wav(path: str | pathlib.Path) -> tuple[np.ndarray, int]:
  """Reads a PCM WAV file (8/16/24/32-bit; channels averaged to mono).

  Returns:
    ``(x, sr)``: float32 samples of shape ``(n,)`` in ``[-1, 1]`` and the sample rate in Hz.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"no WAV file at {path}")
  with wave.open(str(path), "rb") as w:
    return _from_wave(w)


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
  """:func:`read_wav` for the bytes of a WAV file."""
  try:
    with wave.open(io.BytesIO(data), "rb") as w:
      return _from_wave(w)
  except (wave.Error, EOFError) as e:
    raise ValueError(f"not a PCM WAV file ({e})") from None

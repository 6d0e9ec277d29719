"""The model interface and the reference models.

A model is any callable ``model(prompt, audios, sample_rate, options) -> str``: the rendered
prompt (with ``[audio1]``, ``[audio2]`` tags where the clips go), the clips as float32 arrays of
shape ``(n,)``, the sample rate in Hz and the option texts in letter order. It returns free
text, which the answer parser reads. The harness never passes the answer or the stimulus
parameters.

Reference models (DSP oracles read the clips; they must score 100%):

- :func:`rms_oracle`: the clip with the larger RMS is louder.
- :func:`pitch_oracle`: the frequency of the lowest strong peak of the magnitude spectrum of the
  Hann-windowed clip, zero-padded to at least 4× its length, refined by parabolic interpolation
  of the log magnitude around the peak bin ``k``:
  ``δ = ½ (a_{k-1} - a_{k+1}) / (a_{k-1} - 2 a_k + a_{k+1})``, ``f = (k + δ) sr / n_fft``.
- :func:`zcr_pitch_oracle`: the zero-crossing rate (``f ≈ crossings / (2 T)``).
- :func:`count_oracle`: a 10 ms frame RMS envelope, a threshold 20 dB below its maximum,
  rising edges at least 50 ms apart.
- :func:`duration_oracle`: frames (5 ms window, 1 ms hop) above a threshold 20 dB below the
  envelope's maximum.
- :func:`oracle` picks one of those from the question; :func:`sentence_oracle` answers in a
  sentence ("I think the second audio is louder.") to exercise the parser's content stage.
- :func:`constant_model` (always the same text; chance on balanced items), :func:`random_model`
  (a seeded uniform guess), :func:`noisy_oracle` (an ideal observer with Gaussian noise of σ dB
  on each level, σ semitones on each pitch, σ percent on each log-duration).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import numpy as np

from avprobe._stimuli import rms_db
from fira_jax.lab.seeds import np_rng

__all__ = [
  "Model",
  "task_of",
  "rms_oracle",
  "pitch_oracle",
  "zcr_pitch_oracle",
  "count_oracle",
  "duration_oracle",
  "oracle",
  "sentence_oracle",
  "constant_model",
  "random_model",
  "noisy_oracle",
  "load_model",
  "run_model",
]

Model = Callable[[str, Sequence[np.ndarray], int, Sequence[str]], str]
_CUES = {"louder": "loudness", "pitch": "pitch", "longer": "duration", "how many": "counting"}
_VERBS = {"loudness": "is louder", "pitch": "has a higher pitch", "duration": "is longer"}


def task_of(prompt: str) -> str:
  """The task a prompt asks about, from its wording ("louder", "pitch", "longer", "how many")."""
  low = prompt.lower()
  for cue, task in _CUES.items():
    if cue in low:
      return task
  raise ValueError(f"cannot tell the task of the prompt {prompt[:60]!r}")


def _letter_of_position(options: Sequence[str], position: int) -> str:
  """The letter whose option names clip ``position`` ("first"/"second"; else letter order)."""
  word = ("first", "second")[position - 1]
  for i, text in enumerate(options):
    if word in text.lower():
      return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i]
  return "AB"[position - 1]


def _choose(options: Sequence[str], values: Sequence[float]) -> str:
  return _letter_of_position(options, 1 if values[0] >= values[1] else 2)


def rms_oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """The letter of the clip with the larger RMS level."""
  return _choose(options, [rms_db(x) for x in audios])


def peak_frequency(x: np.ndarray, sr: int, *, strong: float = 0.3) -> float:
  """The lowest spectral peak within ``strong`` of the maximum magnitude, in Hz (see module)."""
  x = np.asarray(x, np.float64)
  n_fft = 1 << int(np.ceil(np.log2(4 * x.shape[0])))
  mag = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]), n_fft))
  inner = mag[1:-1]
  peaks = np.flatnonzero((inner > mag[:-2]) & (inner >= mag[2:]) & (inner >= strong * mag.max()))
  k = int(peaks[0]) + 1 if peaks.size else int(np.argmax(mag))
  a = np.log(mag[k - 1 : k + 2] + 1e-30)
  den = a[0] - 2 * a[1] + a[2]
  delta = 0.5 * (a[0] - a[2]) / den if den != 0 else 0.0
  return float((k + delta) * sr / n_fft)


def pitch_oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """The letter of the clip with the higher spectral peak frequency."""
  return _choose(options, [peak_frequency(x, sample_rate) for x in audios])


def zcr_pitch_oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """The letter of the clip with more zero crossings per second of sound."""

  def zcr(x):
    nz = np.flatnonzero(x)
    s = np.signbit(x[nz[0] : nz[-1] + 1])
    return np.count_nonzero(s[1:] != s[:-1]) / max(nz[-1] - nz[0], 1)

  return _choose(options, [zcr(np.asarray(x)) for x in audios])


def _envelope_db(x: np.ndarray, sr: int, win_s: float, hop_s: float) -> np.ndarray:
  """Frame RMS levels in dB (window ``win_s``, hop ``hop_s``)."""
  win, hop = max(int(round(win_s * sr)), 1), max(int(round(hop_s * sr)), 1)
  x2 = np.concatenate([[0.0], np.cumsum(np.asarray(x, np.float64) ** 2)])
  starts = np.arange(0, max(x.shape[0] - win, 0) + 1, hop)
  ms = (x2[starts + win] - x2[starts]) / win
  return 10 * np.log10(ms + 1e-20)


def count_bursts(x: np.ndarray, sr: int) -> int:
  """Rising edges of the 10 ms envelope above (max - 20 dB), at least 50 ms apart."""
  env = _envelope_db(x, sr, 0.01, 0.01)
  on = env > env.max() - 20.0
  rises = np.flatnonzero(on[1:] & ~on[:-1]) + 1
  rises = np.concatenate([[0], rises]) if on[0] else rises
  count, last = 0, -np.inf
  for r in rises:
    if (r - last) * 0.01 >= 0.05:
      count += 1
    last = r
  return count


def count_oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """The letter of the option closest to the number of bursts counted."""
  n = count_bursts(audios[0], sample_rate)
  return _closest_number(options, n)


def _closest_number(options: Sequence[str], n: float) -> str:
  values = []
  for text in options:
    try:
      values.append(float(text))
    except ValueError:
      values.append(np.inf)
  return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(np.argmin([abs(v - n) for v in values]))]


def sounding_time(x: np.ndarray, sr: int) -> float:
  """Seconds of 5 ms frames (1 ms hop) above (max - 20 dB)."""
  env = _envelope_db(x, sr, 0.005, 0.001)
  return float(np.count_nonzero(env > env.max() - 20.0) * 0.001)


def duration_oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """The letter of the clip that sounds longer."""
  return _choose(options, [sounding_time(x, sample_rate) for x in audios])


_ORACLES = {
  "loudness": rms_oracle,
  "pitch": pitch_oracle,
  "duration": duration_oracle,
  "counting": count_oracle,
}


def oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """The DSP oracle of the prompt's task (a letter)."""
  return _ORACLES[task_of(prompt)](prompt, audios, sample_rate, options)


def sentence_oracle(prompt: str, audios: Sequence[np.ndarray], sample_rate: int, options) -> str:
  """:func:`oracle`'s answer as a sentence, e.g. "I think the second audio is louder."."""
  task = task_of(prompt)
  letter = oracle(prompt, audios, sample_rate, options)
  text = options["ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(letter)]
  if task == "counting":
    return f"There are {text} sounds in this audio clip."
  return f"I think {text} {_VERBS[task]}."


def constant_model(answer: str = "A") -> Model:
  """A model that always says ``answer`` (``"A"``, ``"the first audio"``, ...)."""

  def model(prompt, audios, sample_rate, options) -> str:
    return answer

  model.__name__ = f"constant_{answer!r}"
  return model


def random_model(seed: int = 0) -> Model:
  """A model that names a uniformly random option letter (stream ``"avprobe/random_model"``)."""
  rng = np_rng(seed, "avprobe/random_model")

  def model(prompt, audios, sample_rate, options) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(rng.integers(len(options)))]

  return model


def noisy_oracle(sigma: float = 2.0, seed: int = 0) -> Model:
  """An ideal observer with Gaussian internal noise.

  Each clip's cue gets independent noise ``N(0, σ²)``: σ dB on the RMS level, σ semitones on
  ``12 log2(f)``, σ percent on ``100 ln(duration)``; counting is exact. For a 2AFC difference Δ
  the probability of a correct answer is ``Φ(Δ / (σ √2))``, so its 75% threshold is
  ``σ √2 · 0.6745 ≈ 0.954 σ``.
  """
  if not sigma >= 0:
    raise ValueError(f"sigma must be >= 0, got {sigma!r}")
  rng = np_rng(seed, "avprobe/noisy_oracle")
  cues = {
    "loudness": lambda x, sr: rms_db(x),
    "pitch": lambda x, sr: 12 * np.log2(peak_frequency(x, sr)),
    "duration": lambda x, sr: 100 * np.log(sounding_time(x, sr)),
  }

  def model(prompt, audios, sample_rate, options) -> str:
    task = task_of(prompt)
    if task == "counting":
      return count_oracle(prompt, audios, sample_rate, options)
    values = [cues[task](x, sample_rate) + sigma * rng.standard_normal() for x in audios]
    return _choose(options, values)

  return model


def load_model(spec: str, *, seed: int = 0, sigma: float = 2.0) -> Model:
  """A model by name: ``oracle``, ``sentence_oracle``, ``constant`` (always "A"), ``random``,
  ``noisy`` (:func:`noisy_oracle` with ``sigma``) or ``module:callable`` (a model, imported)."""
  named: dict[str, Callable[[], Model]] = {
    "oracle": lambda: oracle,
    "sentence_oracle": lambda: sentence_oracle,
    "constant": lambda: constant_model("A"),
    "random": lambda: random_model(seed),
    "noisy": lambda: noisy_oracle(sigma, seed),
  }
  if spec in named:
    return named[spec]()
  if ":" not in spec:
    raise ValueError(f"model must be one of {list(named)} or module:callable, got {spec!r}")
  module_name, _, attr = spec.partition(":")
  try:
    fn = getattr(importlib.import_module(module_name), attr)
  except (ImportError, AttributeError) as e:
    raise ValueError(f"model {spec!r} cannot be imported ({e})") from None
  if not callable(fn):
    raise ValueError(f"model {spec!r} is not callable")
  return fn


def run_model(model: Model, items, *, progress: bool = False, desc: str = "avprobe") -> list[str]:
  """Calls ``model(item.prompt, item.audios, item.sr, item.options)`` on each item.

  Returns:
    The responses, one string per item.
  """
  from fira_jax.lab.metrics import progress_bar

  responses = []
  with progress_bar(len(items), desc=desc, unit="item", disable=not progress) as bar:
    for item in items:
      out = model(item.prompt, list(item.audios), item.sr, list(item.options))
      if not isinstance(out, str):
        raise ValueError(f"the model returned {type(out).__name__} for {item.item_id}, not str")
      responses.append(out)
      bar.update(1)
  return responses

"""Probe items: seeded stimulus pairs for each task, position-balanced, with rendered prompts.

Tasks and their difficulty grids (the stimulus difference Δ of each cell):

- ``loudness``: two tones of one frequency f ∈ {250, 440, 1000, 2000} Hz, the reference at
  L ~ U[-30, -15] dBFS and the other at L + Δ, Δ ∈ {0.5, 1, 2, 3, 6, 10, 20} dB; a pair whose
  louder tone would exceed -6 dBFS is shifted down together (peaks stay below 0.99).
- ``loudness_clip``: the official example's kind: a sine of peak A ~ U[0.2, 0.5] versus the same
  sine times g ∈ {2, 4, 8} clipped to ±1 (Δ is g).
- ``pitch``: two tones at -20 dBFS, f_ref log-uniform in [200, 2000] Hz and f_ref·2^(±Δ/12),
  Δ ∈ {0.1, 0.25, 0.5, 1, 2, 4, 12} semitones.
- ``duration``: two tones of one frequency at -20 dBFS lasting d ~ U[0.3, 1.0] s and d·(1 + Δ),
  Δ ∈ {0.05, 0.1, 0.25, 0.5, 1.0}, zero-padded to one length.
- ``counting``: N ∈ {1..8} bursts of 100 ms at 1 kHz, -20 dBFS, gaps U[150, 400] ms, 200 ms of
  silence at both ends; four distinct options in [1, 10] (Δ is N).

Every item draws from its own generator, ``np_rng(seed, "avprobe/<task>/<index>")``, so one
configuration always gives the same items, sample for sample. Within each (task, Δ) cell exactly
⌈n/2⌉ items have the correct answer at position 1 (four-way balanced letters for counting),
assigned by a seeded permutation.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from avprobe import _stimuli as S
from avprobe._wav import write_wav
from fira_jax.lab.seeds import np_rng

__all__ = [
  "TASKS",
  "GRIDS",
  "QUESTIONS",
  "TWO_AFC_OPTIONS",
  "ANSWER_SUFFIX",
  "Item",
  "render_prompt",
  "make_items",
  "items_to_jsonl",
  "export_items",
]

GRIDS: dict[str, tuple[float, ...]] = {
  "loudness": (0.5, 1, 2, 3, 6, 10, 20),
  "loudness_clip": (2, 4, 8),
  "pitch": (0.1, 0.25, 0.5, 1, 2, 4, 12),
  "duration": (0.05, 0.1, 0.25, 0.5, 1.0),
  "counting": (1, 2, 3, 4, 5, 6, 7, 8),
}
TASKS: tuple[str, ...] = tuple(GRIDS)
_LOUD = "Which audio is louder? The first audio [audio1] or the second audio [audio2]?"
QUESTIONS: dict[str, str] = {
  "loudness": _LOUD,
  "loudness_clip": _LOUD,
  "pitch": "Which audio has a higher pitch? The first audio [audio1] or the second audio [audio2]?",
  "duration": "Which audio is longer? The first audio [audio1] or the second audio [audio2]?",
  "counting": "How many sounds are there in the audio [audio1]?",
}
TWO_AFC_OPTIONS = ("the first audio", "the second audio")
ANSWER_SUFFIX = "Answer with the option's letter from the given choices directly."
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FREQS = (250.0, 440.0, 1000.0, 2000.0)
_MAX_LEVEL_DB = -6.0


@dataclasses.dataclass(frozen=True)
class Item:
  """One probe question.

  Attributes:
    item_id: a unique name, e.g. ``"pitch-0007"``.
    task: one of :data:`TASKS` (or the task of an official item).
    question: the question, with ``[audio1]``, ``[audio2]`` where the clips go.
    audios: the clips, float32 arrays of shape ``(n,)``.
    sr: the sample rate in Hz.
    options: the option texts, in letter order (A, B, ...).
    answer: the correct letter.
    meta: the stimulus parameters: ``delta``, ``correct_position`` (1 or 2; the letter index
      for counting), ``positions`` (the clip each letter names), levels, frequencies, ``seed``.
  """

  item_id: str
  task: str
  question: str
  audios: tuple[np.ndarray, ...]
  sr: int
  options: tuple[str, ...]
  answer: str
  meta: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def letters(self) -> str:
    """The option letters, ``"AB"`` or ``"ABCD"``."""
    return LETTERS[: len(self.options)]

  @property
  def prompt(self) -> str:
    """The rendered prompt (:func:`render_prompt`)."""
    return render_prompt(self.question, self.options)


def render_prompt(question: str, options: Sequence[str]) -> str:
  """The question, one line per option and the answer instruction, joined by newlines.

  An option's line is its letter, a period and its text (``A. text``).
  """
  lines = [question, *(f"{LETTERS[i]}. {o}" for i, o in enumerate(options)), ANSWER_SUFFIX]
  return "\n".join(lines)


def _pair(target: np.ndarray, other: np.ndarray, position: int) -> tuple[np.ndarray, ...]:
  return (target, other) if position == 1 else (other, target)


def _loudness(rng, delta, position, sr, duration, timbre):
  f = float(rng.choice(_FREQS))
  ref = float(rng.uniform(-30.0, -15.0))
  shift = max(0.0, ref + delta - _MAX_LEVEL_DB)
  lo, hi = ref - shift, ref + delta - shift
  ph = rng.uniform(0, 2 * np.pi, 2)
  loud = S.tone(f, duration, sr, level_db=hi, phase=ph[0], timbre=timbre)
  quiet = S.tone(f, duration, sr, level_db=lo, phase=ph[1], timbre=timbre)
  return _pair(loud, quiet, position), {"freq": f, "levels_db": [hi, lo]}


def _loudness_clip(rng, gain, position, sr, duration, timbre):
  f = float(rng.choice(_FREQS))
  peak = float(rng.uniform(0.2, 0.5))
  x = S.tone(f, duration, sr, level_db=0.0, phase=rng.uniform(0, 2 * np.pi), timbre=timbre)
  x = x * (peak / np.max(np.abs(x)))
  clipped = np.clip(x * gain, -1.0, 1.0).astype(np.float32)
  return _pair(clipped, x.astype(np.float32), position), {"freq": f, "peak": peak}


def _pitch(rng, delta, position, sr, duration, timbre):
  f_ref = float(np.exp(rng.uniform(np.log(200.0), np.log(2000.0))))
  f_other = f_ref * 2.0 ** (rng.choice([-1.0, 1.0]) * delta / 12.0)
  hi, lo = max(f_ref, f_other), min(f_ref, f_other)
  ph = rng.uniform(0, 2 * np.pi, 2)
  high = S.tone(hi, duration, sr, level_db=-20.0, phase=ph[0], timbre=timbre)
  low = S.tone(lo, duration, sr, level_db=-20.0, phase=ph[1], timbre=timbre)
  return _pair(high, low, position), {"freqs": [hi, lo], "f_ref": f_ref}


def _duration(rng, ratio, position, sr, duration, timbre):
  f = float(rng.choice(_FREQS))
  d = float(rng.uniform(0.3, 1.0))
  n = int(round(d * (1.0 + ratio) * sr))
  ph = rng.uniform(0, 2 * np.pi, 2)
  long = S.pad_to(S.tone(f, d * (1 + ratio), sr, level_db=-20.0, phase=ph[0], timbre=timbre), n)
  short = S.pad_to(S.tone(f, d, sr, level_db=-20.0, phase=ph[1], timbre=timbre), n)
  return _pair(long, short, position), {"freq": f, "durations_s": [d * (1 + ratio), d]}


def _counting(rng, count, position, sr, duration, timbre):
  n = int(count)
  gaps = rng.uniform(0.15, 0.4, max(n - 1, 0))
  onsets = 0.2 + np.concatenate([[0.0], np.cumsum(0.1 + gaps)])
  total = onsets[-1] + 0.1 + 0.2
  x = S.click_train(onsets, total, sr, phases=rng.uniform(0, 2 * np.pi, n))
  others = rng.choice([k for k in range(1, 11) if k != n], 3, replace=False).tolist()
  rng.shuffle(others)
  options = [str(k) for k in others]
  options.insert(position - 1, str(n))
  return (x,), {"count": n, "options": options, "onsets_s": onsets.tolist()}


_MAKERS = {
  "loudness": _loudness,
  "loudness_clip": _loudness_clip,
  "pitch": _pitch,
  "duration": _duration,
  "counting": _counting,
}


def _check_tasks(tasks: str | Sequence[str]) -> list[str]:
  tasks = [tasks] if isinstance(tasks, str) else list(tasks)
  bad = [t for t in tasks if t not in GRIDS]
  if not tasks or bad:
    raise ValueError(f"tasks must be among {list(TASKS)}, got {bad or tasks!r}")
  return tasks


def _positions(seed: int, task: str, delta: float, n: int, k: int) -> np.ndarray:
  """``n`` correct positions in 1..k, balanced (counts differ by at most one), seeded order."""
  rng = np_rng(seed, f"avprobe/{task}/positions/{delta}")
  return rng.permutation(np.arange(n) % k + 1)


def make_items(
  tasks: str | Sequence[str] = ("loudness", "pitch", "duration", "counting"),
  *,
  n_per_cell: int = 20,
  seed: int = 0,
  sr: int = 44100,
  duration: float = 1.0,
  timbre: str = "sine",
  letter_shuffle: bool = False,
) -> list[Item]:
  """Generates the probe items of ``tasks``: ``n_per_cell`` items per (task, Δ) cell.

  Args:
    tasks: task names (see :data:`TASKS`).
    n_per_cell: items per difficulty cell (``len(GRIDS[task]) * n_per_cell`` per task).
    seed: the base seed; item ``i`` of ``task`` draws from ``np_rng(seed, f"avprobe/{task}/{i}")``.
    sr: sample rate in Hz (44100 as the official files; 16000 for many audio models).
    duration: tone length in seconds for ``loudness``, ``loudness_clip`` and ``pitch``.
    timbre: ``"sine"`` or ``"harmonic"`` (6 harmonics, amplitudes ``1/k``).
    letter_shuffle: if True, which letter names which clip is drawn per item (separates a
      letter bias from a position bias); otherwise A is the first clip.

  Returns:
    The items, task by task and cell by cell.
  """
  tasks = _check_tasks(tasks)
  sr = S.check_sr(sr)
  duration = S.check_duration(duration)
  if isinstance(n_per_cell, bool) or not isinstance(n_per_cell, int) or n_per_cell < 1:
    raise ValueError(f"n_per_cell must be a positive int, got {n_per_cell!r}")
  if timbre not in ("sine", "harmonic"):
    raise ValueError(f"timbre must be 'sine' or 'harmonic', got {timbre!r}")
  items = []
  for task in tasks:
    index = 0
    k = 4 if task == "counting" else 2
    for delta in GRIDS[task]:
      for position in _positions(seed, task, delta, n_per_cell, k):
        rng = np_rng(seed, f"avprobe/{task}/{index}")
        audios, meta = _MAKERS[task](rng, delta, int(position), sr, duration, timbre)
        if task == "counting":
          options, answer, positions = tuple(meta.pop("options")), "ABCD"[position - 1], None
        else:
          positions = [1, 2]
          if letter_shuffle and rng.random() < 0.5:
            positions = [2, 1]
          options = tuple(TWO_AFC_OPTIONS[p - 1] for p in positions)
          answer = "AB"[positions.index(position)]
        for x in audios:
          if task != "loudness_clip":
            assert np.max(np.abs(x)) < S.PEAK_LIMIT, f"{task} clip peaks at {np.abs(x).max()}"
        meta.update(delta=delta, correct_position=int(position), seed=seed, index=index)
        if positions is not None:
          meta["positions"] = positions
        items.append(
          Item(f"{task}-{index:04d}", task, QUESTIONS[task], audios, sr, options, answer, meta)
        )
        index += 1
  return items


def items_to_jsonl(items: Sequence[Item], audio_files: Sequence[Sequence[str]]) -> str:
  """One JSON line per item: everything but the audio, plus the clips' file names."""
  lines = []
  for item, files in zip(items, audio_files, strict=True):
    record = {
      "item_id": item.item_id,
      "task": item.task,
      "question": item.question,
      "prompt": item.prompt,
      "options": list(item.options),
      "answer": item.answer,
      "sr": item.sr,
      "audio_files": list(files),
      "meta": item.meta,
    }
    lines.append(json.dumps(record) + "\n")
  return "".join(lines)


def export_items(
  items: Sequence[Item], out_dir: str | pathlib.Path, *, progress: bool = False
) -> pathlib.Path:
  """Writes each clip as ``<out_dir>/audio/<item_id>_<k>.wav`` and ``<out_dir>/manifest.jsonl``.

  Returns:
    The manifest's path.
  """
  from fira_jax.lab.metrics import progress_bar

  out = pathlib.Path(out_dir)
  files = []
  with progress_bar(len(items), desc="export", unit="item", disable=not progress) as bar:
    for item in items:
      names = []
      for k, x in enumerate(item.audios, 1):
        name = f"audio/{item.item_id}_{k}.wav"
        write_wav(out / name, x, item.sr)
        names.append(name)
      files.append(names)
      bar.update(1)
  manifest = out / "manifest.jsonl"
  manifest.write_text(items_to_jsonl(items, files), encoding="utf-8")
  return manifest

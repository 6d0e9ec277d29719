"""Items: seeding, position balance, prompts, the manifest."""

import json

import numpy as np
import pytest

import avprobe


def test_items_are_reproducible_and_seeded():
  a = avprobe.make_items(["pitch", "counting"], n_per_cell=2, sr=16000, seed=3)
  b = avprobe.make_items(["pitch", "counting"], n_per_cell=2, sr=16000, seed=3)
  c = avprobe.make_items(["pitch", "counting"], n_per_cell=2, sr=16000, seed=4)
  for x, y in zip(a, b, strict=True):
    assert x.answer == y.answer and x.options == y.options
    assert all(np.array_equal(p, q) for p, q in zip(x.audios, y.audios, strict=True))
  assert any(not np.array_equal(x.audios[0], y.audios[0]) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("n", [4, 5])
@pytest.mark.parametrize("task", ["loudness", "pitch", "duration", "loudness_clip"])
def test_two_option_items_are_position_balanced(task, n):
  items = avprobe.make_items(task, n_per_cell=n, sr=16000)
  for delta in avprobe.GRIDS[task]:
    pos = [it.meta["correct_position"] for it in items if it.meta["delta"] == delta]
    assert sorted(pos) == sorted([1] * ((n + 1) // 2) + [2] * (n // 2))


def test_positions_are_permuted_not_alternated():
  items = avprobe.make_items("loudness", n_per_cell=8, sr=16000)
  runs = [[it.meta["correct_position"] for it in items if it.meta["delta"] == d] for d in (1, 2)]
  assert runs[0] != runs[1] or runs[0] != [1, 2] * 4


def test_counting_letters_are_balanced():
  items = avprobe.make_items("counting", n_per_cell=8, sr=16000)
  for delta in avprobe.GRIDS["counting"]:
    letters = [it.answer for it in items if it.meta["delta"] == delta]
    assert sorted(letters) == sorted("ABCD" * 2)


def test_letter_shuffle_keeps_the_answer_right():
  items = avprobe.make_items("loudness", n_per_cell=6, sr=16000, letter_shuffle=True)
  assert {it.options for it in items} == {avprobe.TWO_AFC_OPTIONS, avprobe.TWO_AFC_OPTIONS[::-1]}
  for it in items:
    word = ("first", "second")[it.meta["correct_position"] - 1]
    assert word in it.options[it.letters.index(it.answer)]


def test_prompt_layout():
  item = avprobe.make_items("loudness", n_per_cell=1, sr=16000)[0]
  assert item.prompt.splitlines() == [
    "Which audio is louder? The first audio [audio1] or the second audio [audio2]?",
    "A. the first audio",
    "B. the second audio",
    "Answer with the option's letter from the given choices directly.",
  ]


def test_export_writes_wavs_and_manifest(tmp_path):
  items = avprobe.make_items(["loudness", "counting"], n_per_cell=1, sr=16000)
  manifest = avprobe.export_items(items, tmp_path)
  lines = [json.loads(line) for line in manifest.read_text().splitlines()]
  assert [r["item_id"] for r in lines] == [it.item_id for it in items]
  for record, item in zip(lines, items, strict=True):
    assert record["answer"] == item.answer and "[audio1]" in record["prompt"]
    for name, x in zip(record["audio_files"], item.audios, strict=True):
      y, sr = avprobe.read_wav(tmp_path / name)
      assert sr == 16000
      np.testing.assert_allclose(y, x, atol=1 / 32767)

"""Reference models: oracles at 100%, constant and random models at chance, the noisy
oracle's threshold."""

import numpy as np
import pytest

import avprobe

ALL = ["loudness", "loudness_clip", "pitch", "duration", "counting"]


@pytest.fixture(scope="module")
def items():
  return avprobe.make_items(ALL, n_per_cell=4, sr=16000, letter_shuffle=True)


@pytest.mark.parametrize("model", [avprobe.oracle, avprobe.sentence_oracle])
def test_oracles_score_100_percent(items, model):
  report = avprobe.score(items, avprobe.run_model(model, items), n_boot=0)
  for task in ALL:
    assert report["tasks"][task]["acc"] == 1.0, task
    assert report["tasks"][task]["parse_fail_rate"] == 0.0


def test_sentence_oracle_goes_through_the_content_stage(items):
  item = next(it for it in items if it.task == "pitch")
  response = avprobe.sentence_oracle(item.prompt, item.audios, item.sr, item.options)
  assert avprobe.parse_detail(response, item.options).stage == "content"


@pytest.mark.parametrize("sr", [16000, 44100])
def test_pitch_oracles(sr):
  items = avprobe.make_items("pitch", n_per_cell=2, sr=sr)
  fft = avprobe.run_model(avprobe.pitch_oracle, items)
  zcr = avprobe.run_model(avprobe.zcr_pitch_oracle, items)
  for it, a, b in zip(items, fft, zcr, strict=True):
    assert a == it.answer
    if it.meta["delta"] >= 1:
      assert b == it.answer


def test_harmonic_timbre_pitch_oracle():
  items = avprobe.make_items("pitch", n_per_cell=2, sr=16000, timbre="harmonic")
  assert avprobe.run_model(avprobe.pitch_oracle, items) == [it.answer for it in items]


def test_constant_model_is_at_chance(items):
  report = avprobe.score(items, avprobe.run_model(avprobe.constant_model("A"), items), n_boot=0)
  for task in ALL:
    t = report["tasks"][task]
    assert t["ci"][0] <= t["chance"] <= t["ci"][1] and t["p_value"] > 0.05, task
  balanced = avprobe.make_items(["loudness", "pitch"], n_per_cell=4, sr=8000, duration=0.2)
  responses = avprobe.run_model(avprobe.constant_model("A"), balanced)
  for t in avprobe.score(balanced, responses, n_boot=0)["tasks"].values():
    assert t["acc"] == 0.5 and t["pos1_rate"] == 1.0


def test_first_audio_text_is_a_position_bias():
  items = avprobe.make_items(["loudness", "pitch"], n_per_cell=4, sr=16000)
  model = avprobe.constant_model("the first audio")
  report = avprobe.score(items, avprobe.run_model(model, items), n_boot=0)
  for t in report["tasks"].values():
    assert t["acc"] == 0.5 and t["balanced_acc"] == 0.5 and t["pos1_rate"] == 1.0
    assert t["parse_fail_rate"] == 1.0
  strict = avprobe.score(items, avprobe.run_model(model, items), mode="strict", n_boot=0)
  assert strict["overall"]["acc"] == 0.0


def test_random_model_ci_covers_chance(items):
  report = avprobe.score(items, avprobe.run_model(avprobe.random_model(0), items), n_boot=0)
  for t in report["tasks"].values():
    assert t["ci"][0] <= t["chance"] <= t["ci"][1]


def test_noisy_oracle_threshold_matches_theory():
  sigma = 2.0
  items = avprobe.make_items("loudness", n_per_cell=40, sr=8000, duration=0.2, seed=0)
  responses = avprobe.run_model(avprobe.noisy_oracle(sigma, seed=0), items)
  thr = avprobe.score(items, responses, n_boot=0)["tasks"]["loudness"]["threshold"]
  analytic = sigma * np.sqrt(2) * 0.6745
  assert thr["status"] == "fit"
  assert thr["value"] == pytest.approx(analytic, rel=0.3)


def test_load_model():
  assert avprobe.load_model("oracle") is avprobe.oracle
  assert avprobe.load_model("avprobe:rms_oracle") is avprobe.rms_oracle
  with pytest.raises(ValueError, match="model"):
    avprobe.load_model("gpt")
  with pytest.raises(ValueError, match="cannot be imported"):
    avprobe.load_model("avprobe:nothing_here")


def test_model_must_return_text(items):
  with pytest.raises(ValueError, match="not str"):
    avprobe.run_model(lambda *a: 1, items[:1])

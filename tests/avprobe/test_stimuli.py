"""Stimuli: levels (RMS, dB), pitch (FFT peak), ramps, WAV round trip, argument checks."""

import numpy as np
import pytest

import avprobe
from avprobe._models import count_bursts, peak_frequency


@pytest.mark.parametrize("sr", [16000, 44100])
def test_tone_level_and_pitch(sr):
  x = avprobe.tone(440.0, 0.5, sr, level_db=-23.0, phase=1.0)
  assert x.dtype == np.float32 and x.shape == (sr // 2,)
  assert avprobe.rms_db(x) == pytest.approx(-23.0, abs=1e-3)
  assert peak_frequency(x, sr) == pytest.approx(440.0, rel=1e-3)


def test_ramp_is_raised_cosine():
  w = avprobe.raised_cosine_ramp(1000, 1000, 0.01)
  np.testing.assert_allclose(w[:10], 0.5 * (1 - np.cos(np.pi * np.arange(10) / 10)))
  np.testing.assert_allclose(w[::-1], w)
  assert w[10:990].min() == 1.0


def test_loudness_items_have_the_requested_level_difference():
  for item in avprobe.make_items(["loudness"], n_per_cell=2, sr=16000):
    levels = [avprobe.rms_db(x) for x in item.audios]
    pos = item.meta["correct_position"]
    assert levels[pos - 1] - levels[2 - pos] == pytest.approx(item.meta["delta"], abs=1e-3)
    assert max(np.abs(x).max() for x in item.audios) < 0.99


def test_pitch_items_have_the_requested_interval():
  for item in avprobe.make_items(["pitch"], n_per_cell=2, sr=16000):
    f = [peak_frequency(x, item.sr) for x in item.audios]
    pos = item.meta["correct_position"]
    semitones = 12 * np.log2(f[pos - 1] / f[2 - pos])
    assert semitones == pytest.approx(item.meta["delta"], abs=0.02)


def test_counting_items_have_the_requested_count():
  items = avprobe.make_items(["counting"], n_per_cell=2, sr=16000)
  for item in items:
    assert count_bursts(item.audios[0], item.sr) == item.meta["count"] == item.meta["delta"]
    assert item.options[item.letters.index(item.answer)] == str(item.meta["count"])
    assert len(set(item.options)) == 4


def test_duration_items_are_padded_to_one_length():
  for item in avprobe.make_items(["duration"], n_per_cell=1, sr=16000):
    assert item.audios[0].shape == item.audios[1].shape


def test_clip_variant_reproduces_the_official_kind():
  for item in avprobe.make_items(["loudness_clip"], n_per_cell=2, sr=16000):
    pos = item.meta["correct_position"]
    loud, sine = item.audios[pos - 1], item.audios[2 - pos]
    assert np.abs(sine).max() == pytest.approx(item.meta["peak"], rel=1e-6)
    np.testing.assert_allclose(loud, np.clip(sine * item.meta["delta"], -1, 1), atol=1e-6)


def test_wav_round_trip(tmp_path):
  x = avprobe.tone(1000.0, 0.2, 16000, level_db=-10.0)
  x[5] = 1.5  # clipped on write
  avprobe.write_wav(tmp_path / "a.wav", x, 16000)
  y, sr = avprobe.read_wav(tmp_path / "a.wav")
  assert sr == 16000 and y.dtype == np.float32
  np.testing.assert_allclose(y, np.clip(x, -1, 1), atol=1 / 32767)


@pytest.mark.parametrize(
  "kwargs, name",
  [
    ({"sr": 0}, "sr"),
    ({"sr": -16000}, "sr"),
    ({"duration": 0.0}, "duration"),
    ({"duration": -1.0}, "duration"),
    ({"n_per_cell": 0}, "n_per_cell"),
    ({"timbre": "square"}, "timbre"),
  ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
  with pytest.raises(ValueError, match=name):
    avprobe.make_items("loudness", **kwargs)


def test_unknown_task_is_named():
  with pytest.raises(ValueError, match="tasks must be among .*'timbre_id'"):
    avprobe.make_items(["loudness", "timbre_id"])


def test_tone_checks():
  with pytest.raises(ValueError, match="sr"):
    avprobe.tone(440.0, 1.0, 0)
  with pytest.raises(ValueError, match="duration"):
    avprobe.tone(440.0, -0.1, 16000)
  with pytest.raises(ValueError, match="freq"):
    avprobe.tone(9000.0, 0.1, 16000)

"""The official parquet loader on a small file written here."""

import io

import numpy as np
import pytest

import avprobe

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _wav_bytes(x, sr, tmp_path, name):
  path = avprobe.write_wav(tmp_path / name, x, sr)
  return path.read_bytes()


def test_load_three_rows(tmp_path):
  sr = 16000
  quiet = avprobe.tone(440.0, 0.3, sr, level_db=-30.0)
  loud = avprobe.tone(440.0, 0.3, sr, level_db=-10.0)
  avprobe.write_wav(tmp_path / "clips" / "q.wav", quiet, sr)
  hf_audio = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
  table = pa.table(
    {
      "question_id": ["q1", "q2", "q3"],
      "question": [avprobe.QUESTIONS["loudness"]] * 2 + [avprobe.QUESTIONS["pitch"]],
      "options": [["the first audio", "the second audio"]] * 3,
      "answer": ["B", "A", "A"],
      # raw WAV bytes in audio_1/audio_2; HF Audio dicts (bytes or a relative path) in a list
      "audio_1": [_wav_bytes(quiet, sr, tmp_path, "a.wav"), None, None],
      "audio_2": [_wav_bytes(loud, sr, tmp_path, "c.wav"), None, None],
      "audios": pa.array(
        [
          [],
          [{"bytes": _wav_bytes(loud, sr, tmp_path, "b.wav"), "path": None}],
          [{"bytes": None, "path": "clips/q.wav"}, {"bytes": None, "path": "clips/q.wav"}],
        ],
        pa.list_(hf_audio),
      ),
      "subfield": ["loudness", "loudness", "pitch"],
      "difficulty": [1, 2, 3],
    }
  )
  pq.write_table(table, tmp_path / "deaftest.parquet")

  items = avprobe.load_official_deaftest(tmp_path / "deaftest.parquet")
  assert [it.item_id for it in items] == ["q1", "q2", "q3"]
  assert [len(it.audios) for it in items] == [2, 1, 2]
  assert items[0].task == "loudness" and items[2].task == "pitch"
  assert items[0].meta == {"difficulty": 1} and items[0].sr == sr
  np.testing.assert_allclose(items[0].audios[1], loud, atol=1 / 32767)
  assert avprobe.rms_oracle(items[0].prompt, items[0].audios, sr, items[0].options) == "B"


def test_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="parquet"):
    avprobe.load_official_deaftest(tmp_path / "none.parquet")


def test_decode_rejects_non_wav():
  with pytest.raises(ValueError, match="WAV"):
    avprobe.decode_wav(io.BytesIO(b"RIFFxxxx").getvalue())

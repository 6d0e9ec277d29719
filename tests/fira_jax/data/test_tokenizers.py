"""Tokenizer round trips, save/load, and bad specs."""

import numpy as np
import pytest

from fira_jax.data import BPETokenizer, ByteTokenizer, build_tokenizer, load_tokenizer

SAMPLE = "def f(x):\n  return x ** 2  # naïve ☃\n\nROMEO: But soft!"


@pytest.fixture(scope="module")
def shakespeare(shakespeare_sample):
  return shakespeare_sample.read_text()[:200_000]


def test_byte_roundtrip_and_ids():
  tok = ByteTokenizer()
  ids = tok.encode(SAMPLE)
  assert ids == list(SAMPLE.encode("utf-8")) and max(ids) < 256
  assert tok.decode(ids + [tok.eos_id]) == SAMPLE
  np.testing.assert_array_equal(tok.encode_batch([SAMPLE])[0], ids)


def test_bpe_trains_roundtrips_and_compresses(shakespeare, tmp_path):
  tok = build_tokenizer("bpe", [shakespeare], vocab_size=512)
  assert tok.vocab_size == 512
  text = shakespeare[:5000]
  ids = tok.encode(text)
  assert tok.decode(ids) == text
  assert tok.decode(tok.encode(SAMPLE)) == SAMPLE  # unseen characters survive (byte level)
  assert len(ids) < 0.6 * len(text.encode("utf-8"))
  tok.save(tmp_path)
  again = load_tokenizer(tmp_path)
  assert isinstance(again, BPETokenizer) and again.encode(text) == ids
  assert again.eos_id == tok.eos_id
  same = build_tokenizer(str(tmp_path / "tokenizer.json"), [])
  assert same.encode(text) == ids


def test_load_and_build_errors(tmp_path):
  assert load_tokenizer(tmp_path) is None
  ByteTokenizer().save(tmp_path)
  assert isinstance(load_tokenizer(tmp_path), ByteTokenizer)
  with pytest.raises(ValueError, match="--tokenizer must be 'byte', 'bpe'"):
    build_tokenizer("wordpiece", [])
  with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
    build_tokenizer(str(tmp_path / "missing.json"), [])
  with pytest.raises(ValueError, match="vocab_size for BPE must be an int >= 300"):
    BPETokenizer.train(["abc"], 100)

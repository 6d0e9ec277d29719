"""GSM8K and SVAMP loaders on the real data, and their download path on generated files."""

import hashlib

import numpy as np
import pytest

from distill import kpod


def test_gsm8k_loader_parses_steps_annotations_and_answers(dataset_dir):
  train = kpod.load_gsm8k(dataset_dir("gsm8k"), "train")
  test = kpod.load_gsm8k(dataset_dir("gsm8k"), "test")
  assert (len(train), len(test)) == (7473, 1319)
  p = train[0]
  assert p.question.startswith("Natalia sold clips to 48")
  assert p.steps == (
    "Natalia sold 48/2 = 24 clips in May.",
    "Natalia sold 48+24 = 72 clips altogether in April and May.",
  )
  assert p.calculations == (kpod.Calculation("48/2", "24"), kpod.Calculation("48+24", "72"))
  assert p.answer == "72"
  assert all(p.steps and "<<" not in " ".join(p.steps) for p in test)
  # Most annotations evaluate to their stated value (a check on the parser, not the data).
  calcs = [c for p in train[:300] for c in p.calculations]
  ok = []
  for c in calcs:
    try:
      ok.append(abs(eval(c.expression, {"__builtins__": {}}) - float(c.value)) < 1e-4)  # noqa: S307
    except Exception:  # noqa: BLE001 - a few GSM8K annotations are not Python syntax
      ok.append(False)
  assert np.mean(ok) > 0.95


def test_gsm8k_answer_parsing_and_errors(tmp_path):
  steps, answer, calcs = kpod.parse_gsm8k_answer("a <<2*3=6>>6\nb\n#### 1,200")
  assert steps == ("a 6", "b") and answer == "1200" and calcs == (kpod.Calculation("2*3", "6"),)
  with pytest.raises(ValueError, match="no '#### N' line"):
    kpod.parse_gsm8k_answer("just text")
  with pytest.raises(ValueError, match="empty rationale"):
    kpod.parse_gsm8k_answer("#### 5")
  with pytest.raises(FileNotFoundError, match="train.jsonl"):
    kpod.load_gsm8k(tmp_path)
  with pytest.raises(ValueError, match="split must be"):
    kpod.load_gsm8k(tmp_path, "dev")


def test_svamp_loader_writes_rationales_from_equations(dataset_dir):
  problems = kpod.load_svamp(dataset_dir("svamp"))
  assert len(problems) == 1000
  assert problems[0].steps == ("76 - 25 = 51.",)
  assert problems[0].answer == "51"
  # Every rationale's last step states the answer.
  last = [p.steps[-1].rsplit("=", 1)[-1].strip(" .") for p in problems]
  assert np.mean([a == p.answer for a, p in zip(last, problems, strict=True)]) > 0.99


def test_equation_steps_innermost_first():
  steps, value = kpod.equation_steps("( ( 8.0 + 3.0 ) * 2.5 )")
  assert steps == ["8 + 3 = 11.", "11 * 2.5 = 27.5."] and value == 27.5
  with pytest.raises(ValueError, match="unsupported equation"):
    kpod.equation_steps("x + 1")


def test_loaders_download_into_the_cache(tmp_path, monkeypatch):
  """Generated files served from a local mirror stand in for the authors' repositories."""
  from distill.kpod import _math_data

  mirror = tmp_path / "mirror"
  mirror.mkdir()
  line = '{"question": "1 + 1?", "answer": "One plus one <<1+1=2>>2.\\n#### 2"}\n'
  svamp = '[{"Body": "Ann has 3", "Question": "How many?", "Equation": "(1.0 + 2.0)", "Answer": 3}]'
  files = {"train.jsonl": line, "test.jsonl": line * 2, "SVAMP.json": svamp}
  sha = {}
  for name, text in files.items():
    (mirror / name).write_text(text)
    sha[name] = hashlib.sha256(text.encode()).hexdigest()
  monkeypatch.setenv("FIRA_JAX_CACHE", str(tmp_path / "cache"))
  monkeypatch.delenv("FIRA_JAX_DATA_DIR", raising=False)
  monkeypatch.setattr(_math_data, "GSM8K_URL", mirror.as_uri())
  monkeypatch.setattr(_math_data, "SVAMP_URL", (mirror / "SVAMP.json").as_uri())
  gsm8k_sha = {k: sha[k] for k in ("train.jsonl", "test.jsonl")}
  monkeypatch.setattr(_math_data, "_GSM8K_SHA256", gsm8k_sha)
  monkeypatch.setattr(_math_data, "_SVAMP_SHA256", sha["SVAMP.json"])
  with pytest.raises(FileNotFoundError, match="download=True"):
    kpod.load_gsm8k(split="test")
  assert len(kpod.load_gsm8k(split="test", download=True)) == 2
  assert kpod.load_gsm8k(split="train")[0].calculations == (kpod.Calculation("1+1", "2"),)
  assert kpod.load_svamp(download=True)[0].steps == ("1 + 2 = 3.",)
  assert (tmp_path / "cache" / "data" / "svamp" / "SVAMP.json").is_file()

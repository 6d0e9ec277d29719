"""The pretrained student's corpus, tokenizer file and checkpoint loading, and the reuse of a
trained token weighting module across seeds."""

import dataclasses

import numpy as np
import pytest
from flax import nnx

from distill import kpod
from fira_jax.data.tokenizers import BPETokenizer


def test_problem_tokenizer_covers_every_generated_word():
  tok = kpod.problem_tokenizer()
  for cfg in (kpod.ProblemConfig(), kpod.ProblemConfig(min_steps=4, max_steps=5)):
    for p in kpod.generate_problems(300, cfg, seed=1):
      ids = tok.encode(p.question + " " + " ".join(p.steps) + " #### " + p.answer)
      assert tok.stoi["<unk>"] not in ids


def test_tokenizer_json_gives_the_same_ids(tmp_path):
  tok = kpod.problem_tokenizer()
  hf = BPETokenizer.from_file(kpod.write_tokenizer_json(tok, tmp_path / "tokenizer.json"))
  assert hf.vocab_size == tok.vocab_size + 1 and hf.eos_id == tok.vocab_size
  for p in kpod.generate_problems(20, seed=2):
    text = p.question + " " + " ".join(p.steps) + " #### " + p.answer
    assert hf.encode(text) == tok.encode(text)
  assert hf.encode("On a Sunny day, 41+7=48.") == tok.encode("on a sunny day , 41 + 7 = 48 .")


def test_corpus_is_deterministic_and_its_arithmetic_right(tmp_path):
  cfg = kpod.CorpusConfig(num_docs=30, lines_per_doc=8)
  docs = kpod.pretraining_corpus(cfg, seed=3)
  assert docs == kpod.pretraining_corpus(cfg, seed=3) and len(docs) == 30
  lines = [line for d in docs for line in d.splitlines()]
  equations = [line for line in lines if "=" in line]
  questions = [line for line in lines if line.endswith("?")]
  assert equations and questions and len(equations) + len(questions) == len(lines)
  wrong, total = np.sum([kpod.equation_errors(line) for line in equations], axis=0)
  assert wrong == 0 and total >= len(equations)
  out = kpod.write_corpus(tmp_path / "c", cfg, seed=3, docs_per_file=10)
  assert len(list((out / "text").glob("*.txt"))) == 3 and (out / "tokenizer.json").is_file()


def test_worked_problems_read_as_the_distillation_sequences(tmp_path):
  tok = kpod.problem_tokenizer()
  cfg = kpod.CorpusConfig(20, 8, equation_frac=0.2, chain_frac=0.2, worked_frac=0.5)
  docs = kpod.pretraining_corpus(cfg, seed=4)
  lines = [line for d in docs for line in d.splitlines()]
  worked = [line for line in lines if line.startswith("<bos>")]
  assert 0.3 < len(worked) / len(lines) < 0.7
  # A worked line is tokenised as the student's training sequence of the same problem.
  hf = BPETokenizer.from_file(kpod.write_tokenizer_json(tok, tmp_path / "tokenizer.json"))
  for p in kpod.generate_problems(5, cfg.worked, seed=9):
    batch = kpod.encode_student(tok, [p], [0], max_len=128)
    n = int((batch.tokens[0] != tok.pad_id).sum())
    sequence = [*batch.tokens[0, :n].tolist(), int(batch.targets[0, n - 1])]
    assert hf.encode(kpod.worked_problem_text(p)) == sequence
  # Worked problems are 1-2 steps by default, and their arithmetic is right.
  for line in worked:
    wrong, total = kpod.equation_errors(line.split("<sep>")[1])
    assert wrong == 0 and 1 <= total <= 2
  # Excluded questions are never written, alone or worked.
  asked = [line.split(" <sep>")[0].removeprefix("<bos> ") for line in lines if "=" not in line]
  asked += [line.split(" <sep>")[0].removeprefix("<bos> ") for line in worked]
  banned = set(asked[:6])
  kept = [x for d in kpod.pretraining_corpus(cfg, seed=4, exclude=banned) for x in d.splitlines()]
  assert len(kept) == len(lines) and not any(q in x for q in banned for x in kept)
  out = kpod.write_corpus(tmp_path / "w", cfg, seed=4, exclude=banned)
  assert f'"excluded": {len(banned)}' in (out / "corpus.json").read_text()
  with pytest.raises(ValueError, match="sum to at most 1"):
    kpod.CorpusConfig(equation_frac=0.5, chain_frac=0.3, worked_frac=0.3)


def _saved_run(tmp_path, vocab_size, max_seq_len=64):
  """A checkpoint laid out as `fira-jax train` writes it (params, opt_state, frozen + meta)."""
  from fira_jax.lab.checkpoint import Checkpointer
  from fira_jax.models import Llama, LlamaConfig
  from fira_jax.train.step import FlatModel

  config = LlamaConfig(vocab_size, 32, 64, 2, 2, max_seq_len)
  flat = FlatModel(Llama(config, rngs=nnx.Rngs(5)))
  ckpt = Checkpointer(tmp_path)
  state = {"params": flat.params, "opt_state": {"count": np.zeros(())}, "frozen": flat.frozen}
  ckpt.save(7, state, {"step": 7, "identity": {"model": dataclasses.asdict(config)}})
  ckpt.close()
  return flat


def test_load_pretrained_student(tmp_path):
  tok = kpod.problem_tokenizer()
  flat = _saved_run(tmp_path, tok.vocab_size + 1)
  student_fn = kpod.load_pretrained_student(tmp_path)
  model = student_fn(tok.vocab_size, 48, None, 3)
  np.testing.assert_array_equal(model.embed.embedding[...], flat.params["embed/embedding"])
  ids = np.asarray([tok.encode("tom has 3 apples .")])
  assert model(ids).shape == (1, ids.shape[1], tok.vocab_size + 1)
  with pytest.raises(ValueError, match="context 64"):
    student_fn(tok.vocab_size, 128, None, 0)
  with pytest.raises(FileNotFoundError, match="run_dir: no checkpoint"):
    kpod.load_pretrained_student(tmp_path / "empty")


def test_prepare_with_a_fixed_tokenizer_reuses_the_weighting_module():
  problems = kpod.ProblemConfig(min_steps=2, max_steps=2, num_distractors=0)
  cfg = dataclasses.replace(
    kpod.KPODConfig.smoke(),
    problems=problems,
    num_train=32,
    num_test=2,
    num_ood=2,
    num_val=2,
    weighting_steps=4,
    weighting_warmup=2,
    trace_every=2,
    weighting_val=16,
    weighting_select="whole",
  )
  tok = kpod.problem_tokenizer()
  first = kpod.prepare(cfg, 0, tokenizer=tok, progress=False)
  assert first.tok is tok and len(first.val) == 2
  evaluated = {p.question for p in first.test + first.ood + first.val}
  assert evaluated <= kpod.evaluation_questions(cfg, [0])
  assert not evaluated & {p.question for p in first.train}
  # The module's step: the lowest held-out objective among those after the warm-up.
  assert [t["step"] for t in first.weight_trace] == [0, 2, 4]
  after = {t["step"]: t["val_whole"] for t in first.weight_trace[1:]}
  assert all("val_any" in t for t in first.weight_trace)
  assert first.weighting_step == min(after, key=after.get)
  again = kpod.prepare(cfg, 0, tokenizer=tok, weighting_from=first, progress=False)
  assert again.weighting_module is first.weighting_module
  assert again.weight_trace == first.weight_trace
  assert again.weighting_step == first.weighting_step
  for a, b in zip(again.token_weights, first.token_weights, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  other = kpod.prepare(cfg, 1, tokenizer=tok, weighting_from=first, progress=False)
  assert other.train != first.train and len(other.token_weights) == 32
  r = kpod.train_method(
    "cot",
    other,
    dataclasses.replace(cfg, epochs=1),
    1,
    progress=False,
    extra_tests={"again": (other.test[:2], other.max_len)},
  )
  assert len(r["val_curve"]) == 1 and 0.0 <= r["again_accuracy"] <= 1.0
  # Seeds whose rationales are longer than the module's training pool's are padded further:
  # the module reads any length, and padding does not change a keep probability.
  longer = dataclasses.replace(cfg, problems=kpod.ProblemConfig(3, 4, num_distractors=0))
  wide = kpod.prepare(longer, 2, tokenizer=tok, weighting_from=first, progress=False)
  max_q, max_r = first.weighting_lengths
  assert max(len(w) for w in wide.token_weights) > max_r
  short = other.train[:8]
  keep = [
    kpod.rationale_token_weights(
      np.asarray(first.weighting_module.keep_probabilities(b.rationale, b.rationale_mask)), b
    )
    for b in (
      kpod.encode_weighting(tok, short, max_question=q, max_rationale=r)
      for q, r in ((max_q, max_r), (max_q + 5, max_r + 9))
    )
  ]
  for a, b in zip(*keep, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="another tokenizer"):
    wider = kpod.WordTokenizer([*tok.itos, "zebra"])
    kpod.prepare(cfg, 0, tokenizer=wider, weighting_from=first, progress=False)

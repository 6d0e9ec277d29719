"""A pretrained student for KPOD: a corpus of generated arithmetic text, a tokenizer file that
``fira-jax train`` reads, and loading the trained checkpoint back as the distillation student.

The corpus (:func:`pretraining_corpus`) holds four kinds of lines, all from random streams
disjoint from the comparison's problem streams: equations of the generator's operations
(``"41 + 7 = 48 ."``), chains of them (``"12 * 2 = 24 . 24 - 5 = 19 ."``), word-problem
questions without their rationales and, with ``CorpusConfig.worked_frac > 0``, worked problems
laid out as the distillation's sequences (``"<bos> question <sep> steps #### answer <eos>"``,
:func:`worked_problem_text`), by default shorter (1-2 steps) than the comparison's 2-3, the
analogue of a pretrained LLM having seen some worked solutions (GSM8K's training rationales,
say) before it is distilled. Questions listed in ``exclude`` (the evaluation problems) are
never written. The tokenizer
(:func:`problem_tokenizer`) is fixed: every word the generator can write, so the pretrained
embedding rows mean the same thing in every run. :func:`write_tokenizer_json` saves it in the
Hugging Face format ``fira-jax train --tokenizer PATH`` loads (plus its end-of-document token,
one id after the last word).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from collections.abc import Callable, Collection

import numpy as np
from flax import nnx

from distill.kpod import _problems
from distill.kpod._math_data import MathProblem
from distill.kpod._problems import ProblemConfig, generate_problem
from distill.kpod._tokenizer import _TOKEN, BOS, EOS, SEP, UNK, WordTokenizer, split_words

__all__ = [
  "CorpusConfig",
  "load_pretrained_student",
  "pretraining_corpus",
  "problem_tokenizer",
  "write_corpus",
  "worked_problem_text",
  "write_tokenizer_json",
]

_END_OF_DOCUMENT = "<|endoftext|>"  # fira_jax.data.tokenizers.EOS


def problem_tokenizer() -> WordTokenizer:
  """The tokenizer of every word the problem generator (:func:`generate_problem`) can write."""
  texts = [
    *_problems._NAMES,
    *_problems._ITEMS,
    *_problems._QUESTION_FILLER,
    *_problems._STEP_FILLER,
    "has buys more gives away doubles triples the them so how many does have now ? , . + - * =",
  ]
  return WordTokenizer.fit(texts)


def write_tokenizer_json(tok: WordTokenizer, path: str | pathlib.Path) -> pathlib.Path:
  """Writes ``tok`` as a Hugging Face ``tokenizer.json`` (word level, the same split and ids,
  plus ``<|endoftext|>`` with id ``tok.vocab_size``) for ``fira-jax train --tokenizer``.

  ``<bos>``, ``<sep>`` and ``<eos>`` in the text are read as their own ids (the layout of
  :func:`worked_problem_text`)."""
  from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers  # noqa: PLC0415

  vocab = dict(tok.stoi)
  vocab[_END_OF_DOCUMENT] = len(vocab)
  hf = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
  hf.normalizer = normalizers.Lowercase()
  hf.pre_tokenizer = pre_tokenizers.Sequence(
    [
      pre_tokenizers.WhitespaceSplit(),
      pre_tokenizers.Split(Regex(_TOKEN.pattern), behavior="isolated"),
    ]
  )
  hf.add_special_tokens([BOS, SEP, EOS, _END_OF_DOCUMENT])
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  hf.save(str(path))
  return path


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
  """Shape of the pretraining corpus.

  Attributes:
    num_docs: documents.
    lines_per_doc: lines per document (each an equation, a chain or a question).
    equation_frac: fraction of single-equation lines.
    chain_frac: fraction of chain lines (2 to ``problems.max_steps + 1`` equations, each
      starting from the previous result).
    worked_frac: fraction of worked-problem lines (:func:`worked_problem_text` of a problem
      drawn with ``worked``); the rest are questions without rationale.
    problems: the generator's settings (operands, values, question shape).
    worked: the generator's settings for the worked problems.
  """

  num_docs: int = 2000
  lines_per_doc: int = 16
  equation_frac: float = 0.4
  chain_frac: float = 0.3
  worked_frac: float = 0.0
  problems: ProblemConfig = ProblemConfig(min_steps=2, max_steps=3)
  worked: ProblemConfig = ProblemConfig(min_steps=1, max_steps=2)

  def __post_init__(self):
    fracs = (self.equation_frac, self.chain_frac, self.worked_frac)
    if min(fracs) < 0 or sum(fracs) > 1 + 1e-9:
      raise ValueError(
        f"equation_frac, chain_frac and worked_frac must be >= 0 and sum to at most 1, got {fracs}"
      )
    if self.num_docs < 1 or self.lines_per_doc < 1:
      raise ValueError(
        f"num_docs and lines_per_doc must be >= 1, got {self.num_docs}, {self.lines_per_doc}"
      )


def worked_problem_text(problem: MathProblem) -> str:
  """One line of text laid out as the distillation's student sequence of ``problem``.

  The line is ``"<bos> question <sep> step_1 ... step_n #### answer <eos>"``.
  """
  steps = " ".join(problem.steps)
  return f"{BOS} {problem.question} {SEP} {steps} #### {problem.answer} {EOS}"


def _equation(rng: np.random.Generator, x: int, cfg: ProblemConfig) -> tuple[str, int]:
  kind, b, y = _problems._operation(rng, x, cfg)
  return f"{x} {dict(add='+', sub='-', mul='*')[kind]} {b} = {y} .", y


def pretraining_corpus(
  config: CorpusConfig, *, seed: int, exclude: Collection[str] = ()
) -> list[str]:
  """``config.num_docs`` documents of generated arithmetic text (see the module docstring).

  Equations start from a value drawn uniformly from ``[0, max_value]``; chains from the
  generator's first-value range; questions are :func:`generate_problem`'s, without rationale;
  worked problems are :func:`worked_problem_text` of ``config.worked`` problems. A question
  (asked alone or worked) that is in ``exclude`` is drawn again.
  """
  rng = np.random.default_rng(seed)
  cfg = config.problems
  exclude = frozenset(exclude)

  def fresh(problem_cfg: ProblemConfig) -> MathProblem:
    while (p := generate_problem(rng, problem_cfg)).question in exclude:
      pass
    return p

  docs = []
  for _ in range(config.num_docs):
    lines = []
    for _ in range(config.lines_per_doc):
      u = rng.random()
      if u < config.worked_frac:
        lines.append(worked_problem_text(fresh(config.worked)))
      elif (u := u - config.worked_frac) < config.equation_frac:
        lines.append(_equation(rng, int(rng.integers(0, cfg.max_value + 1)), cfg)[0])
      elif u < config.equation_frac + config.chain_frac:
        x, parts = int(rng.integers(1, cfg.max_value // 2 + 1)), []
        for _ in range(int(rng.integers(2, cfg.max_steps + 2))):
          text, x = _equation(rng, x, cfg)
          parts.append(text)
        lines.append(" ".join(parts))
      else:
        lines.append(fresh(cfg).question)
    docs.append("\n".join(lines))
  return docs


def write_corpus(
  directory: str | pathlib.Path,
  config: CorpusConfig,
  *,
  seed: int,
  tok: WordTokenizer | None = None,
  docs_per_file: int = 200,
  exclude: Collection[str] = (),
) -> pathlib.Path:
  """Writes the corpus as ``.txt`` files (documents separated by blank lines) under
  ``directory/text`` and the tokenizer as ``directory/tokenizer.json``; returns ``directory``.
  ``exclude``: questions never written (see :func:`pretraining_corpus`); their count is
  recorded in ``directory/corpus.json``.

  Train with ``fira-jax train --data text:DIR/text --tokenizer DIR/tokenizer.json``.
  """
  tok = problem_tokenizer() if tok is None else tok
  directory = pathlib.Path(directory)
  (directory / "text").mkdir(parents=True, exist_ok=True)
  docs = pretraining_corpus(config, seed=seed, exclude=exclude)
  specials = re.compile("|".join(re.escape(t) for t in (BOS, SEP, EOS)))
  unknown = {w for d in docs for w in split_words(specials.sub(" ", d)) if w not in tok.stoi}
  if unknown:
    raise ValueError(f"the corpus holds words outside the tokenizer: {sorted(unknown)[:10]}")
  for k in range(0, len(docs), docs_per_file):
    text = "\n\n".join(docs[k : k + docs_per_file]) + "\n"
    (directory / "text" / f"part{k // docs_per_file:04d}.txt").write_text(text)
  write_tokenizer_json(tok, directory / "tokenizer.json")
  (directory / "corpus.json").write_text(
    json.dumps(
      {"seed": seed, "excluded": len(set(exclude)), **dataclasses.asdict(config)}, indent=1
    )
  )
  return directory


def load_pretrained_student(
  run_dir: str | pathlib.Path,
) -> Callable[[int, int, object, int], nnx.Module]:
  """A ``student_fn`` for :func:`distill.kpod.prepare` that returns the LLaMA a
  ``fira-jax train`` run left in ``run_dir`` (its newest checkpoint's parameters).

  The returned function checks that the run's vocabulary covers the tokenizer's
  (``vocab_size`` ids, plus the end-of-document id) and that its context is at least
  ``max_len``; it ignores the seed (every seed distils the same pretrained student).
  """
  import warnings  # noqa: PLC0415

  import jax  # noqa: PLC0415
  import orbax.checkpoint as ocp  # noqa: PLC0415 - optional heavy imports

  from fira_jax.lab.checkpoint import Checkpointer  # noqa: PLC0415
  from fira_jax.models import Llama, LlamaConfig  # noqa: PLC0415

  run_dir = pathlib.Path(run_dir).absolute()
  ckpt = Checkpointer(run_dir)
  step = ckpt.latest_step()
  if step is None:
    raise FileNotFoundError(
      f"run_dir: no checkpoint in {run_dir} (expected a `fira-jax train --out` directory)"
    )
  config = LlamaConfig(**ckpt.restore_meta(step)["identity"]["model"])
  with warnings.catch_warnings():  # "sharding info not provided": one host, read as saved
    warnings.simplefilter("ignore", UserWarning)
    saved = ocp.PyTreeCheckpointer().restore(ckpt.directory / str(step) / "state")

  def load(path, x):
    # The run saves each parameter as "params/<path of the nnx.Param>" (fira_jax.train).
    name = jax.tree_util.keystr(path, simple=True, separator="/").removesuffix("/value")
    return np.asarray(saved[f"params/{name}"], x.dtype).reshape(x.shape)

  graphdef, params, rest = nnx.split(Llama(config, rngs=nnx.Rngs(0)), nnx.Param, ...)
  params = jax.tree_util.tree_map_with_path(load, params)

  def student_fn(vocab_size: int, max_len: int, cfg: object, seed: int) -> nnx.Module:
    del cfg, seed
    if config.vocab_size < vocab_size or config.max_seq_len < max_len:
      raise ValueError(
        f"{run_dir} holds a model of vocabulary {config.vocab_size} and context "
        f"{config.max_seq_len}; the data need {vocab_size} and {max_len}"
      )
    return nnx.merge(graphdef, params, rest)

  return student_fn

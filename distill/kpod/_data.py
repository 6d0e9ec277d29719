"""Encoding math problems for the student (progressive inputs, token weights, step ids) and for
KPOD's token weighting module; greedy generation and exact-match evaluation of a causal LM.

The student is any Flax NNX causal LM mapping ids ``(B, L)`` int32 to logits ``(B, L, V)``
(e.g. ``fira_jax.models.Llama``). A sequence is
``<bos> question <sep> step_1 ... step_n #### answer <eos>``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from distill.kpod._evaluate import exact_match
from distill.kpod._math_data import MathProblem
from distill.kpod._tokenizer import WordTokenizer
from distill.kpod._weighting import WeightingBatch


class StudentBatch(NamedTuple):
  """Next-token training arrays, all ``(N, L)``.

  Attributes:
    tokens: input ids (``pad`` after the end).
    targets: the next id at each position.
    loss_mask: targets the student must generate (steps from ``c_i + 1`` on, ``####``, the
      answer and ``<eos>``).
    weights: weight of each target (token weight on rationale tokens, 1 elsewhere).
    step_ids: rationale step of each target (``-1`` outside the rationale).
  """

  tokens: np.ndarray
  targets: np.ndarray
  loss_mask: np.ndarray
  weights: np.ndarray
  step_ids: np.ndarray


def _problem_parts(
  tok: WordTokenizer, p: MathProblem
) -> tuple[list[int], list[list[int]], list[int]]:
  steps = [tok.encode(s) for s in p.steps]
  if not p.steps or not any(steps):
    raise ValueError(f"empty rationale for question {p.question[:60]!r}")
  return tok.encode(p.question), steps, tok.encode("#### " + p.answer)


def encode_student(
  tok: WordTokenizer,
  problems: Sequence[MathProblem],
  given_steps: Sequence[int] | np.ndarray | None = None,
  *,
  max_len: int,
  token_weights: Sequence[np.ndarray] | None = None,
  answer_only: bool = False,
) -> StudentBatch:
  """Encodes problems for next-token training of the student.

  Args:
    tok: the tokenizer.
    problems: the problems.
    given_steps: ``c_i``, leading rationale steps given as input (no loss); default 0.
    max_len: sequence length ``L`` (longer sequences raise ``ValueError``).
    token_weights: per problem, one weight per rationale token (all steps concatenated);
      default 1.
    answer_only: drop the rationale (the answer-only baseline).
  """
  n = len(problems)
  given = np.zeros(n, np.int64) if given_steps is None else np.asarray(given_steps)
  if given.shape != (n,):
    raise ValueError(f"given_steps must have shape ({n},), got {given.shape}")
  arrays = {
    k: np.zeros((n, max_len), dt)
    for k, dt in [
      ("tokens", np.int32),
      ("targets", np.int32),
      ("loss_mask", bool),
      ("weights", np.float32),
      ("step_ids", np.int32),
    ]
  }
  arrays["step_ids"][:] = -1
  for i, p in enumerate(problems):
    q, steps, ans = _problem_parts(tok, p)
    if answer_only:
      steps = []
    if not 0 <= given[i] <= max(len(steps) - 1, 0):
      raise ValueError(f"given_steps[{i}]={given[i]} must lie in [0, {len(steps) - 1}]")
    seq = [tok.bos_id, *q, tok.sep_id]
    gen = [False] * len(seq)
    sid = [-1] * len(seq)
    wts = [1.0] * len(seq)
    rw = None if token_weights is None or answer_only else np.asarray(token_weights[i])
    j = 0
    for k, s in enumerate(steps):
      seq += s
      gen += [k >= given[i]] * len(s)
      sid += [k] * len(s)
      wts += [1.0] * len(s) if rw is None else rw[j : j + len(s)].tolist()
      j += len(s)
    if rw is not None and j != len(rw):
      raise ValueError(f"token_weights[{i}] has {len(rw)} entries, the rationale {j} tokens")
    tail = [*ans, tok.eos_id]
    seq += tail
    gen += [True] * len(tail)
    sid += [-1] * len(tail)
    wts += [1.0] * len(tail)
    if len(seq) - 1 > max_len:
      raise ValueError(f"problem {i} needs {len(seq) - 1} tokens, more than max_len={max_len}")
    m = len(seq) - 1
    arrays["tokens"][i, :m] = seq[:-1]
    arrays["targets"][i, :m] = seq[1:]
    arrays["loss_mask"][i, :m] = gen[1:]
    arrays["weights"][i, :m] = wts[1:]
    arrays["step_ids"][i, :m] = sid[1:]
  return StudentBatch(**arrays)


def encode_weighting(
  tok: WordTokenizer,
  problems: Sequence[MathProblem],
  *,
  max_question: int,
  max_rationale: int,
  max_answer: int = 8,
) -> WeightingBatch:
  """Encodes problems for :class:`~distill.TokenWeighting` (padded on the right)."""
  n = len(problems)
  q = np.zeros((n, max_question), np.int32)
  r = np.zeros((n, max_rationale), np.int32)
  a_in = np.zeros((n, max_answer), np.int32)
  a_out = np.zeros((n, max_answer), np.int32)
  for i, p in enumerate(problems):
    qi, steps, _ = _problem_parts(tok, p)
    ri = [t for s in steps for t in s]
    ai = [*tok.encode(p.answer), tok.eos_id]
    if len(qi) > max_question or len(ri) > max_rationale or len(ai) > max_answer:
      raise ValueError(
        f"problem {i} has question/rationale/answer lengths {len(qi)}/{len(ri)}/{len(ai)}, over "
        f"the limits {max_question}/{max_rationale}/{max_answer}"
      )
    q[i, : len(qi)], r[i, : len(ri)] = qi, ri
    a_in[i, : len(ai)] = [tok.sep_id, *ai[:-1]]
    a_out[i, : len(ai)] = ai
  return WeightingBatch(*(jnp.asarray(x) for x in (q, q != 0, r, r != 0, a_in, a_out, a_out != 0)))


def rationale_token_weights(weights_BxR: np.ndarray, batch: WeightingBatch) -> list[np.ndarray]:
  """Splits padded ``(B, R)`` weights into one array per problem (its rationale tokens)."""
  lengths = np.asarray(batch.rationale_mask).sum(-1)
  return [np.asarray(w[:n]) for w, n in zip(np.asarray(weights_BxR), lengths, strict=True)]


@functools.partial(jax.jit, static_argnums=0)
def _logprobs(graphdef, state, tokens, targets):
  logits = nnx.merge(graphdef, state)(tokens)
  logp = jax.nn.log_softmax(logits)
  return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def token_logprobs(model: nnx.Module, batch: StudentBatch, *, batch_size: int = 64) -> np.ndarray:
  """``log P(target_j | tokens_<=j)`` of every position under ``model``, ``(N, L)``."""
  graphdef, state = nnx.split(model)
  out = [
    _logprobs(graphdef, state, batch.tokens[i : i + batch_size], batch.targets[i : i + batch_size])
    for i in range(0, len(batch.tokens), batch_size)
  ]
  return np.concatenate([np.asarray(o) for o in out])


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _generate(graphdef, state, tokens, start, max_len, eos_id):
  model = nnx.merge(graphdef, state)
  rows = jnp.arange(tokens.shape[0])

  def cond(carry):
    i, _, done = carry
    return (i < max_len) & ~jnp.all(done)

  def body(carry):
    i, tokens, done = carry
    pos = start + i
    at = jnp.minimum(pos, max_len - 1)
    logits = model(tokens)
    nxt = jnp.argmax(logits[rows, at - 1], axis=-1).astype(jnp.int32)
    ok = (pos < max_len) & ~done
    tokens = tokens.at[rows, at].set(jnp.where(ok, nxt, tokens[rows, at]))
    return i + 1, tokens, done | (ok & (nxt == eos_id)) | (pos + 1 >= max_len)

  done0 = start >= max_len
  _, tokens, _ = jax.lax.while_loop(cond, body, (0, tokens, done0))
  return tokens


def greedy_generate(
  model: nnx.Module,
  prompts: Sequence[Sequence[int]],
  *,
  max_len: int,
  eos_id: int,
  pad_id: int = 0,
  batch_size: int = 128,
) -> list[list[int]]:
  """Greedy decoding of a causal LM from right-padded prompts; returns the generated ids.

  Each row writes its next token at its own position; a causal model never reads the padding
  to the right, so no attention mask is needed. One ``jax.jit`` compiles the whole loop
  (a ``while_loop`` that stops when every row has emitted ``eos_id`` or reached ``max_len``).
  """
  graphdef, state = nnx.split(model)
  batch_size = min(batch_size, int(2 ** np.ceil(np.log2(max(len(prompts), 1)))))
  out = []
  for i in range(0, len(prompts), batch_size):
    chunk = prompts[i : i + batch_size]
    tokens = np.full((batch_size, max_len), pad_id, np.int32)
    start = np.full(batch_size, max_len, np.int32)
    for j, p in enumerate(chunk):
      if len(p) >= max_len:
        raise ValueError(f"prompt {i + j} of length {len(p)} leaves no room under max_len")
      tokens[j, : len(p)] = p
      start[j] = len(p)
    result = np.asarray(
      _generate(graphdef, state, jnp.asarray(tokens), jnp.asarray(start), max_len, eos_id)
    )
    out += [result[j, start[j] :].tolist() for j in range(len(chunk))]
  return out


def evaluate_exact_match(
  model: nnx.Module, tok: WordTokenizer, problems: Sequence[MathProblem], *, max_len: int
) -> tuple[float, list[str]]:
  """Greedy-decodes a rationale and answer for each question; returns (accuracy, texts)."""
  prompts = [[tok.bos_id, *tok.encode(p.question), tok.sep_id] for p in problems]
  generated = greedy_generate(model, prompts, max_len=max_len, eos_id=tok.eos_id, pad_id=tok.pad_id)
  texts = [tok.decode(g) for g in generated]
  return float(exact_match(texts, [p.answer for p in problems]).mean()), texts

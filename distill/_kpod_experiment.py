"""KPOD end to end on generated multi-step problems: answer-only, uniform CoT distillation,
token weighting only, progressive schedule only, and full KPOD, at the same training budget.

The student is any Flax NNX causal LM (``ids (B, L) -> logits (B, L, V)``) exposing its input
embedding table; by default the project's ``fira_jax.models.Llama`` in a small config, trained
from scratch. The rationales play the teacher's CoT (the generator's are exact).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from distill._answer_predictor import AnswerPredictor
from distill._kpod_data import (
  StudentBatch,
  encode_student,
  encode_weighting,
  evaluate_exact_match,
  rationale_token_weights,
  token_logprobs,
)
from distill._kpod_loss import weighted_token_loss
from distill._kpod_schedule import KPODSchedule, kmeans, step_difficulty
from distill._kpod_weighting import TokenWeighting, WeightingBatch, token_weighting_loss
from distill._math_data import MathProblem
from distill._nnx_train import NNXTrainer
from distill._problems import ProblemConfig, generate_problems
from distill._tokenizer import WordTokenizer, split_words

METHODS = ("answer_only", "cot", "weighting", "progressive", "kpod")


@dataclasses.dataclass(frozen=True)
class KPODConfig:
  """Settings of one comparison run (defaults: the benchmark; see :meth:`smoke`).

  The benchmark command and its results are in ``benchmarks/results/kpod.md``.
  """

  num_train: int = 1000
  num_test: int = 100
  num_ood: int = 100
  problems: ProblemConfig = ProblemConfig(min_steps=2, max_steps=3)
  ood_extra_steps: int = 1
  epochs: int = 8
  stages: int | None = None  # progressive stages T; default epochs // 2 (the paper)
  batch_size: int = 32
  learning_rate: float = 3e-3
  d_model: int = 64
  ffn_dim: int = 172
  num_heads: int = 4
  num_layers: int = 2
  weighting_steps: int = 1000
  weighting_warmup: int = 400
  weighting_lr: float = 1e-3
  # Problems the token weighting module trains on: the training set, then fresh problems from
  # the same generator up to this many (0: the training set only). With 1,000 problems its
  # answer predictor memorises the answers from the questions and needs no rationale token.
  weighting_pool: int = 20000
  # After the warm-up the answer predictor is frozen and only the masks learn (see
  # `token_weighting_loss`); trained along, it adapts to ever sparser masks.
  freeze_predictor: bool = True
  # Position information in the module's self-attention ("rotary", as in the student, or
  # "none"); without it the final result's digits look like every other digit.
  weighting_positions: str = "rotary"
  num_prefixes: int = 2
  alpha: float = 0.5
  num_clusters: int = 5
  beta: float = 12.0
  delta_steps: int = 1
  curve_size: int = 32  # in-distribution problems evaluated after every epoch

  @classmethod
  def smoke(cls) -> KPODConfig:
    """A tiny variant that runs in seconds (tests, notebook with small settings)."""
    return cls(
      num_train=96,
      num_test=24,
      num_ood=16,
      epochs=2,
      batch_size=16,
      d_model=32,
      ffn_dim=64,
      num_heads=2,
      weighting_steps=30,
      weighting_warmup=15,
      weighting_pool=0,
      curve_size=8,
    )

  @property
  def num_stages(self) -> int:
    return max(1, self.epochs // 2) if self.stages is None else self.stages


def default_student(vocab_size: int, max_len: int, cfg: KPODConfig, seed: int) -> nnx.Module:
  """The project's LLaMA in the small config of ``cfg``, initialised from ``seed``."""
  from fira_jax.models import Llama, LlamaConfig  # noqa: PLC0415 - optional heavy import

  config = LlamaConfig(
    vocab_size=vocab_size,
    d_model=cfg.d_model,
    ffn_dim=cfg.ffn_dim,
    num_heads=cfg.num_heads,
    num_layers=cfg.num_layers,
    max_seq_len=max_len,
  )
  return Llama(config, rngs=nnx.Rngs(seed))


def embedding_table(model: nnx.Module) -> jax.Array:
  """The input embedding table ``(V, D)`` of a causal LM (``model.embed`` or ``model.embedder``
  holding an ``nnx.Embed``)."""
  for name in ("embed", "embedder", "embed_tokens", "wte"):
    layer = getattr(model, name, None)
    if isinstance(layer, nnx.Embed):
      return layer.embedding[...]
  raise TypeError(
    f"{type(model).__name__} has no nnx.Embed attribute named embed/embedder/embed_tokens/wte; "
    "pass its embedding table explicitly"
  )


@dataclasses.dataclass
class Prepared:
  """Data, tokenizer, initial student and the KPOD pre-computations shared by all methods."""

  tok: WordTokenizer
  train: list[MathProblem]
  test: list[MathProblem]
  ood: list[MathProblem]
  max_len: int
  init_state: Any
  graphdef: Any
  token_weights: list[np.ndarray]
  weighting_losses: list[float]
  weight_stats: dict[str, tuple[float, float, int]]
  kpod_schedule: KPODSchedule
  uniform_schedule: KPODSchedule
  weighting_module: TokenWeighting | None = None  # trained; its answer predictor included
  # (max question, max rationale) token lengths the module's inputs were padded to.
  weighting_lengths: tuple[int, int] | None = None


def _student_loss(model, batch, key):
  del key
  tokens, targets, mask, weights = batch
  per_seq = weighted_token_loss(model(tokens), targets, weights, where=mask)
  return jnp.sum(per_seq) / jnp.maximum(jnp.sum(mask), 1), {}


def _difficulties(model, batch: StudentBatch, weights: np.ndarray, n_steps: np.ndarray):
  logp = token_logprobs(model, batch)
  d = np.asarray(step_difficulty(logp, weights, batch.step_ids, num_steps=int(n_steps.max())))
  return [row[:n] for row, n in zip(d, n_steps, strict=True)]


def prepare(
  cfg: KPODConfig,
  seed: int,
  *,
  student_fn: Callable[[int, int, KPODConfig, int], nnx.Module] = default_student,
  progress: bool = True,
) -> Prepared:
  """Generates the data of ``seed``, builds the student and runs KPOD's pre-computations:
  the token weighting module, step difficulties under the initial student and the schedules."""
  train = generate_problems(cfg.num_train, cfg.problems, seed=3 * seed)
  test = generate_problems(cfg.num_test, cfg.problems, seed=3 * seed + 1)
  ood = generate_problems(
    cfg.num_ood, cfg.problems.longer_chains(cfg.ood_extra_steps), seed=3 * seed + 2
  )
  tok = WordTokenizer.fit(p.question + " " + " ".join(p.steps) for p in train + ood)
  full = [
    1
    + len(tok.encode(p.question))
    + 1
    + sum(len(tok.encode(s)) for s in p.steps)
    + len(tok.encode("#### " + p.answer))
    + 1
    for p in train + test + ood
  ]
  max_len = int(np.ceil(max(full) / 8) * 8)
  student = student_fn(tok.vocab_size, max_len, cfg, seed)
  graphdef, init_state = nnx.split(student)

  # 1. Token weighting module on the training rationales (embedding: the initial student's),
  # plus fresh problems up to `weighting_pool`; weights are then read on the training set.
  extra = max(cfg.weighting_pool - len(train), 0)
  pool = train + [
    p
    for p in generate_problems(extra, cfg.problems, seed=1_000_003 + seed)
    if all(w in tok.stoi for w in split_words(p.question + " " + " ".join(p.steps)))
  ]
  max_q = max(len(tok.encode(p.question)) for p in pool)
  max_r = max(sum(len(tok.encode(s)) for s in p.steps) for p in pool)
  wpool = encode_weighting(tok, pool, max_question=max_q, max_rationale=max_r)
  wbatch = WeightingBatch(*(x[: len(train)] for x in wpool))
  weigher = TokenWeighting(
    embedding_table(student),
    positions=cfg.weighting_positions,
    predictor=AnswerPredictor(
      tok.vocab_size, dim=64, max_len=max_q + max_r + 8, rngs=nnx.Rngs(seed + 1)
    ),
    rngs=nnx.Rngs(seed + 2),
  )

  def wloss(m, b, k):
    batch, warm = b
    return token_weighting_loss(
      m,
      batch,
      k,
      alpha=cfg.alpha,
      num_prefixes=cfg.num_prefixes,
      predictor_warmup=warm,
      freeze_predictor=jnp.logical_not(warm) if cfg.freeze_predictor else False,
    )

  trainer = NNXTrainer(weigher, optax.adam(cfg.weighting_lr), wloss)
  rng = np.random.default_rng(seed)
  key = jax.random.key(seed)
  losses = []
  for s in tqdm(range(cfg.weighting_steps), desc="token weighting", disable=not progress):
    if cfg.freeze_predictor and s == cfg.weighting_warmup:
      # A fresh Adam state: the frozen predictor's zero gradients then give exactly zero
      # updates (carried-over moments would keep moving it).
      trainer = NNXTrainer(trainer.model, optax.adam(cfg.weighting_lr), wloss)
    idx = rng.choice(len(pool), size=min(cfg.batch_size, len(pool)), replace=False)
    key, sub = jax.random.split(key)
    batch = WeightingBatch(*(x[idx] for x in wpool))
    loss, _ = trainer.step((batch, s < cfg.weighting_warmup), sub)
    losses.append(float(loss))
  weigher = trainer.model
  w_pad = np.concatenate(
    [
      np.asarray(
        weigher.keep_probabilities(
          wbatch.rationale[i : i + 256], wbatch.rationale_mask[i : i + 256]
        )
      )
      for i in range(0, len(train), 256)
    ]
  )
  weights = rationale_token_weights(w_pad, wbatch)
  stats = weight_stats_by_kind(tok, train, weights)

  # 2. Step difficulties under the student before distillation; clusters of the questions.
  n_steps = np.asarray([len(p.steps) for p in train])
  sb = encode_student(tok, train, max_len=max_len, token_weights=weights)
  d_kpod = _difficulties(student, sb, sb.weights, n_steps)
  d_unif = _difficulties(student, sb, np.ones_like(sb.weights), n_steps)
  table = np.asarray(embedding_table(student))
  q_emb = np.stack([table[tok.encode(p.question)].mean(0) for p in train])
  clusters = kmeans(q_emb, min(cfg.num_clusters, len(train)), seed=seed)
  kw = dict(num_stages=cfg.num_stages, beta=cfg.beta, delta_steps=cfg.delta_steps)
  return Prepared(
    tok,
    train,
    test,
    ood,
    max_len,
    init_state,
    graphdef,
    weights,
    losses,
    stats,
    KPODSchedule(d_kpod, clusters, **kw),
    KPODSchedule(d_unif, clusters, **kw),
    weigher,
    (max_q, max_r),
  )


def token_kinds(words: list[str]) -> list[str]:
  """Kind of each rationale word: ``"final result"`` (digits after the last ``=``),
  ``"result"`` (digits after another ``=``), ``"operand"`` (other digits), ``"operator"``
  (``+ - * =``) or ``"other"``."""
  last_eq = max((i for i, w in enumerate(words) if w == "="), default=len(words))
  kinds, after_eq = [], False
  for i, w in enumerate(words):
    if w.isdigit():
      kinds.append("final result" if i > last_eq else "result" if after_eq else "operand")
    else:
      after_eq = w == "=" or (after_eq and w not in (".", ","))
      kinds.append("operator" if w in ("+", "-", "*", "=") else "other")
  return kinds


KINDS = ("operand", "result", "final result", "operator", "other")


def weight_stats_by_kind(
  tok: WordTokenizer, problems: list[MathProblem], weights: list[np.ndarray]
) -> dict[str, tuple[float, float, int]]:
  """Mean, std and count of the token weights of each kind of :func:`token_kinds`, plus
  ``"digit"`` (all digits together)."""
  kinds: dict[str, list[float]] = {k: [] for k in ("digit",) + KINDS}
  for p, w in zip(problems, weights, strict=True):
    words = [tok.itos[i] for s in p.steps for i in tok.encode(s)]
    for kind, x in zip(token_kinds(words), w, strict=True):
      kinds[kind].append(float(x))
      if kind in ("operand", "result", "final result"):
        kinds["digit"].append(float(x))
  return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in kinds.items() if v}


def train_method(
  method: str,
  prep: Prepared,
  cfg: KPODConfig,
  seed: int,
  *,
  progress: bool = True,
  metrics_file: Any = None,
) -> dict[str, Any]:
  """Trains a fresh copy of the initial student with ``method``; returns accuracies and curves.

  Methods: ``answer_only`` (question -> answer), ``cot`` (uniform loss on the rationale and
  answer), ``weighting`` (KPOD token weights, whole rationale), ``progressive`` (KPOD schedule
  from uniform-weight difficulties, uniform loss), ``kpod`` (both).
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  student = nnx.merge(prep.graphdef, jax.tree.map(lambda x: x.copy(), prep.init_state))
  trainer = NNXTrainer(student, optax.adamw(cfg.learning_rate, weight_decay=0.01), _student_loss)
  schedule = {"progressive": prep.uniform_schedule, "kpod": prep.kpod_schedule}.get(method)
  weights = prep.token_weights if method in ("weighting", "kpod") else None
  rng = np.random.default_rng(seed + 17)
  curve, losses, generated_fraction = [], [], []
  steps_per_epoch = len(prep.train) // cfg.batch_size
  bar = tqdm(total=cfg.epochs * steps_per_epoch, desc=method, disable=not progress)
  t0 = time.perf_counter()
  for epoch in range(cfg.epochs):
    given = None if schedule is None else schedule.given_steps(epoch)
    if given is not None:
      n = schedule.num_steps
      generated_fraction.append(float(np.mean((n - given) / n)))
    data = encode_student(
      prep.tok,
      prep.train,
      given,
      max_len=prep.max_len,
      token_weights=weights,
      answer_only=method == "answer_only",
    )
    order = rng.permutation(len(prep.train))
    for b in range(steps_per_epoch):
      idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
      batch = (data.tokens[idx], data.targets[idx], data.loss_mask[idx], data.weights[idx])
      loss, _ = trainer.step(batch, jax.random.key(0))
      losses.append(float(loss))
      bar.update()
      bar.set_postfix(
        loss=f"{losses[-1]:.3f}",
        tok_per_s=f"{bar.n * cfg.batch_size * prep.max_len / (time.perf_counter() - t0):.0f}",
      )
    acc, _ = evaluate_exact_match(
      trainer.model, prep.tok, prep.test[: cfg.curve_size], max_len=prep.max_len
    )
    curve.append(acc)
    if metrics_file is not None:
      metrics_file.write(
        json.dumps(
          {
            "method": method,
            "seed": seed,
            "epoch": epoch,
            "loss": float(np.mean(losses[-steps_per_epoch:])),
            "curve_accuracy": acc,
          }
        )
        + "\n"
      )
      metrics_file.flush()
  bar.close()
  model = trainer.model
  acc_id, texts = evaluate_exact_match(model, prep.tok, prep.test, max_len=prep.max_len)
  acc_ood, _ = evaluate_exact_match(model, prep.tok, prep.ood, max_len=prep.max_len)
  return {
    "method": method,
    "seed": seed,
    "accuracy": acc_id,
    "ood_accuracy": acc_ood,
    "curve": curve,
    "losses": losses,
    "generated_fraction": generated_fraction,
    "sample": texts[0],
    "train_seconds": time.perf_counter() - t0,
  }

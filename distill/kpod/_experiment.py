"""KPOD end to end on generated multi-step problems: answer-only, uniform CoT distillation,
token weighting only, progressive schedule only, and full KPOD, at the same training budget.

The student is any Flax NNX causal LM (``ids (B, L) -> logits (B, L, V)``) exposing its input
embedding table; by default the project's ``fira_jax.models.Llama`` in a small config, trained
from scratch. The rationales play the teacher's CoT: the generator's (exact) by default, or a
teacher model's (``prepare(rationales=...)``, :func:`~distill.kpod.teacher_rationales`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from distill.kpod._answer_predictor import AnswerPredictor
from distill.kpod._data import (
  StudentBatch,
  encode_student,
  encode_weighting,
  evaluate_exact_match,
  rationale_token_weights,
  token_logprobs,
)
from distill.kpod._evaluate import equation_errors
from distill.kpod._keypoints import (
  KINDS,
  hide_final_result,
  restore_final_result,
  token_kinds,
  trace_point,
  weight_stats_by_kind,
)
from distill.kpod._loss import weighted_token_loss
from distill.kpod._math_data import MathProblem
from distill.kpod._problems import ProblemConfig, generate_problems
from distill.kpod._schedule import KPODSchedule, kmeans, step_difficulty
from distill.kpod._tokenizer import WordTokenizer, split_words
from distill.kpod._weighting import (
  TokenWeighting,
  WeightingBatch,
  token_weighting_loss,
  weighting_objective,
)
from fira_jax.lab import seeds
from fira_jax.lab.metrics import MetricsLog, progress_bar
from fira_jax.lab.nnx_train import NNXTrainer

__all__ = [
  "KINDS",
  "METHODS",
  "KPODConfig",
  "Prepared",
  "default_student",
  "embedding_table",
  "prepare",
  "token_kinds",
  "train_method",
  "weight_stats_by_kind",
]

METHODS = ("answer_only", "cot", "weighting", "progressive", "kpod")


@dataclasses.dataclass(frozen=True)
class KPODConfig:
  """Settings of one comparison run (defaults: the benchmark; see :meth:`smoke`).

  The benchmark, ``fira-jax distill kpod --seeds 0 1 2 --epochs 16 --alpha 0.05``, and its
  results are in ``benchmarks/results/distill/kpod.md`` (CoT distillation 13.0 ± 7.1 % exact
  match in distribution, KPOD 7.8 ± 3.3 %, 10 seeds).

  Attributes:
    num_train: generated training problems.
    num_test: generated in-distribution test problems.
    num_ood: generated test problems with longer chains (out of distribution).
    problems: shape of the generated problems (:class:`ProblemConfig`).
    ood_extra_steps: the longer chains have ``max_steps + 1`` to ``max_steps + ood_extra_steps``
      steps.
    epochs: training epochs of the student, for every method.
    stages: progressive stages T (one per epoch, then the whole rationale); default
      ``epochs // 2`` (the paper's).
    batch_size: student (and token weighting module) batch size.
    learning_rate: AdamW learning rate of the student (weight decay 0.01).
    d_model: the student's model width.
    ffn_dim: the student's feed-forward width.
    num_heads: the student's attention heads.
    num_layers: the student's layers.
    weighting_steps: token weighting module training steps.
    weighting_warmup: of those, answer-predictor warm-up steps (no mask-ratio loss).
    weighting_lr: Adam learning rate of the token weighting module.
    weighting_pool: problems the token weighting module trains on: the training set, then fresh
      problems from the same generator up to this many (0: the training set only). With 1,000
      problems its answer predictor memorises the answers from the questions and needs no
      rationale token.
    freeze_predictor: freeze the answer predictor after the warm-up so that only the masks
      learn (trained along, it adapts to ever sparser masks).
    weighting_warmup_full: fraction of the warm-up examples on which the answer predictor
      reads the whole unmasked rationale (the others: a random prefix under a random mask).
    weighting_warmup_keep: keep probability of the warm-up's random masks (0: one rate per
      example, drawn uniformly from [0, 1]).
    weighting_prefixes: rationale prefixes the answer predictor reads: ``any`` length (the
      paper's) or only the ``whole`` masked rationale.
    weighting_budget: 0 (the paper's keep probabilities) or a keep rate ρ in (0, 1): the
      keep logits are centred per rationale at logit(ρ), so that only which tokens to keep is
      learned (see :class:`TokenWeighting`).
    weighting_positions: position information in the weighting module's self-attention
      (``rotary``, as in the student, or ``none``); without it the final result's digits look
      like every other digit.
    num_prefixes: rationale prefixes the answer predictor reads per example and step.
    alpha: weight α of the mask-ratio loss.
    num_clusters: K-means clusters K of the questions (the schedule's diversity term).
    beta: weight β of the diversity term in the stage-wise selection.
    delta_steps: rationale steps Δs added per stage of the progressive schedule.
    curve_size: in-distribution problems evaluated after every epoch (the curves): the first
      of the validation split when there is one, else of the test split.
    num_val: generated validation problems (a stream of their own, for tuning learning rates
      and epochs; 0: none).
    trace_every: record the mean keep probability per token kind every this many weighting
      steps (``Prepared.weight_trace``; 0: never).
    weighting_select: which state of the token weighting module is used: the ``last`` step's,
      or the one, among the points recorded every ``trace_every`` steps after the warm-up
      (and the last step), with the lowest mask-learning objective ``L_p + α L_m`` on
      ``weighting_val`` held-out problems (a stream of their own), the answer scored on
      prefixes of ``any`` length (the paper's objective) or on the ``whole`` masked rationale.
      Both held-out objectives are recorded in the trace (``val_any``, ``val_whole``) either
      way. Under a keep budget, late in training the module can trade keypoints it ranked
      first for tokens that do not lower the whole-rationale loss
      (``benchmarks/results/distill/kpod.md``).
    weighting_val: held-out problems of the selection criterion (0: no held-out objective).
    weighting_hide_answer: [U] the token weighting module learns on rationales whose final
      result is removed (:func:`~distill.kpod.hide_final_result`), so that its answer
      predictor cannot read the answer off it and the masks must keep what it is computed
      from; the final-result digits then get weight 1 (they are the answer). Off: the
      paper's objective, under which the module keeps the final result and little else.
  """

  num_train: int = 1000
  num_test: int = 100
  num_ood: int = 100
  problems: ProblemConfig = ProblemConfig(min_steps=2, max_steps=3)
  ood_extra_steps: int = 1
  epochs: int = 8
  stages: int | None = None
  batch_size: int = 32
  learning_rate: float = 3e-3
  d_model: int = 64
  ffn_dim: int = 172
  num_heads: int = 4
  num_layers: int = 2
  weighting_steps: int = 1000
  weighting_warmup: int = 400
  weighting_lr: float = 1e-3
  weighting_pool: int = 20000
  freeze_predictor: bool = True
  weighting_warmup_full: float = 0.5
  weighting_warmup_keep: float = 0.5
  weighting_prefixes: Literal["any", "whole"] = "any"
  weighting_budget: float = 0.0
  weighting_positions: Literal["rotary", "none"] = "rotary"
  num_prefixes: int = 2
  alpha: float = 0.5
  num_clusters: int = 5
  beta: float = 12.0
  delta_steps: int = 1
  curve_size: int = 32
  trace_every: int = 100
  num_val: int = 0
  weighting_select: Literal["last", "any", "whole"] = "last"
  weighting_val: int = 256
  weighting_hide_answer: bool = False

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
      weighting_val=0,
    )

  def keypoint_weighting(self, budget: float = 0.5) -> KPODConfig:
    """These settings with the token weighting switches under which the keep probabilities
    rank digits above filler (``benchmarks/results/distill/kpod.md``): a keep budget, masks
    scored on the whole rationale, and a warm-up on random masks of random rates only."""
    return dataclasses.replace(
      self,
      weighting_budget=budget,
      weighting_prefixes="whole",
      weighting_warmup_full=0.0,
      weighting_warmup_keep=0.0,
    )

  @property
  def num_stages(self) -> int:
    """Progressive stages T: ``stages``, default ``max(1, epochs // 2)``."""
    return max(1, self.epochs // 2) if self.stages is None else self.stages

  def to_dict(self) -> dict[str, Any]:
    """The settings as a JSON-able dict (``problems`` nested), as a runs file records them."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, settings: dict[str, Any]) -> KPODConfig:
    """The inverse of :meth:`to_dict` (unknown keys are an error)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - names)
    if unknown:
      raise ValueError(f"settings hold fields KPODConfig does not have: {unknown}")
    values = dict(settings)
    if isinstance(values.get("problems"), dict):
      values["problems"] = ProblemConfig(**values["problems"])
    return cls(**values)


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
  return Llama(config, rngs=nnx.Rngs(seeds.seed_int(seed, "student-init")))


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
  # Mean keep probability per token kind on (up to) 256 training rationales, every
  # `trace_every` weighting steps: [{"step", "digit", "final result", "+ - *", "=", "other"}].
  weight_trace: list[dict[str, float]] = dataclasses.field(default_factory=list)
  # Validation problems (``KPODConfig.num_val``; empty: none).
  val: list[MathProblem] = dataclasses.field(default_factory=list)
  # The token weighting module's step in use (``KPODConfig.weighting_select``).
  weighting_step: int | None = None


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
  # One transform object per learning rate: it is part of the compiled step's static graph, so
  # seeds and methods reuse the compilation.
  return optax.adam(learning_rate)


@functools.cache
def _adamw(learning_rate: float) -> optax.GradientTransformation:
  return optax.adamw(learning_rate, weight_decay=0.01)


@functools.cache
def _weighting_loss_fn(
  alpha: float,
  num_prefixes: int,
  freeze_predictor: bool,
  warmup_full: float = 0.5,
  warmup_keep: float = 0.5,
  prefixes: str = "any",
):
  """The token weighting module's loss for :class:`NNXTrainer` (one function per setting)."""

  def loss_fn(module, batch_and_warmup, key):
    batch, warm = batch_and_warmup
    return token_weighting_loss(
      module,
      batch,
      key,
      alpha=alpha,
      num_prefixes=num_prefixes,
      predictor_warmup=warm,
      freeze_predictor=jnp.logical_not(warm) if freeze_predictor else False,
      warmup_full=warmup_full,
      warmup_keep=warmup_keep or None,
      prefixes=prefixes,
    )

  return loss_fn


def _student_loss(model, batch, key):
  del key
  tokens, targets, mask, weights = batch
  per_seq = weighted_token_loss(model(tokens), targets, weights, where=mask)
  return jnp.sum(per_seq) / jnp.maximum(jnp.sum(mask), 1), {}


def _difficulties(model, batch: StudentBatch, weights: np.ndarray, n_steps: np.ndarray):
  logp = token_logprobs(model, batch)
  d = np.asarray(step_difficulty(logp, weights, batch.step_ids, num_steps=int(n_steps.max())))
  return [row[:n] for row, n in zip(d, n_steps, strict=True)]


def problem_sets(cfg: KPODConfig, seed: int) -> tuple[list[MathProblem], ...]:
  """Seed ``seed``'s problems, as :func:`prepare` draws them.

  Returns ``(train, test, ood, val)``: ``cfg.num_train``, ``cfg.num_test``, ``cfg.num_ood``
  (chains ``cfg.ood_extra_steps`` longer) and ``cfg.num_val`` problems, each list from its own
  named stream of ``seed``.
  """
  train = generate_problems(
    cfg.num_train, cfg.problems, seed=seeds.seed_int(seed, "train-problems")
  )
  test = generate_problems(cfg.num_test, cfg.problems, seed=seeds.seed_int(seed, "test-problems"))
  ood = generate_problems(
    cfg.num_ood,
    cfg.problems.longer_chains(cfg.ood_extra_steps),
    seed=seeds.seed_int(seed, "ood-problems"),
  )
  val = generate_problems(cfg.num_val, cfg.problems, seed=seeds.seed_int(seed, "val-problems"))
  return train, test, ood, val


def evaluation_questions(cfg: KPODConfig, seeds_: Iterable[int]) -> set[str]:
  """The questions :func:`prepare` evaluates or selects on for the seeds ``seeds_``.

  These are the test, longer-chain, validation and held-out weighting problems of each seed:
  what a pretraining corpus must not hold (pass them to ``write_corpus`` as ``exclude``).
  """
  out: set[str] = set()
  for seed in seeds_:
    _, test, ood, val = problem_sets(cfg, seed)
    held = generate_problems(
      cfg.weighting_val, cfg.problems, seed=seeds.seed_int(seed, "weighting-val")
    )
    out.update(p.question for p in (*test, *ood, *val, *held))
  return out


def prepare(
  cfg: KPODConfig,
  seed: int,
  *,
  student_fn: Callable[[int, int, KPODConfig, int], nnx.Module] = default_student,
  progress: bool = True,
  tokenizer: WordTokenizer | None = None,
  weighting_from: Prepared | None = None,
  rationales: Sequence[MathProblem] | None = None,
) -> Prepared:
  """Generates the data of ``seed``, builds the student and runs KPOD's pre-computations:
  the token weighting module, step difficulties under the initial student and the schedules.

  Args:
    cfg: the settings.
    seed: seed of the data streams, the student's initialisation and the module's training.
    student_fn: ``(vocab_size, max_len, cfg, seed) -> causal LM``; e.g.
      :func:`~distill.kpod.load_pretrained_student`'s.
    progress: show progress bars.
    tokenizer: a fixed tokenizer (e.g. :func:`~distill.kpod.problem_tokenizer`, the one a
      pretrained student was trained with); default: fitted on this seed's problems.
    weighting_from: reuse the token weighting module trained by this earlier ``prepare``
      (same tokenizer and initial student) instead of training one: its keep probabilities
      are read on this seed's training rationales, and its trace and losses are carried over.
    rationales: the training problems with a teacher's rationales (e.g.
      :func:`~distill.kpod.teacher_rationales` of this seed's training problems), used in place
      of the generator's; every question must be one of this seed's training questions (a
      teacher may drop some). Test, longer-chain and validation problems are unchanged.
  """
  train, test, ood, val = problem_sets(cfg, seed)
  if rationales is not None:
    train = _teacher_train(train, rationales)
  tok = tokenizer or WordTokenizer.fit(p.question + " " + " ".join(p.steps) for p in train + ood)
  full = [
    1
    + len(tok.encode(p.question))
    + 1
    + sum(len(tok.encode(s)) for s in p.steps)
    + len(tok.encode("#### " + p.answer))
    + 1
    for p in train + test + ood + val
  ]
  max_len = int(np.ceil(max(full) / 8) * 8)
  student = student_fn(tok.vocab_size, max_len, cfg, seed)

  # 1. Token weighting module on the training rationales (embedding: the initial student's),
  # plus fresh problems up to `weighting_pool`; weights are then read on the training set.
  wtrain = _weighting_view(cfg, train)  # what the module reads
  if weighting_from is not None:
    weigher, trace, losses = _reuse_weighting(weighting_from, tok)
    # The module reads any length (masked attention, rotary positions): pad to the longer of
    # the earlier pool's lengths and this seed's.
    max_q, max_r = weighting_from.weighting_lengths
    max_q = max(max_q, *(len(tok.encode(p.question)) for p in wtrain))
    max_r = max(max_r, *(sum(len(tok.encode(s)) for s in p.steps) for p in wtrain))
    wstep = weighting_from.weighting_step
  else:
    weigher, (max_q, max_r), losses, trace, wstep = _train_weighting(
      cfg, seed, tok, wtrain, student, progress
    )
  wbatch = encode_weighting(tok, wtrain, max_question=max_q, max_rationale=max_r)
  weights = [
    w
    for i in range(0, len(train), 256)
    for w in _keep_probs(weigher, wbatch, np.arange(i, min(i + 256, len(train))))
  ]
  if cfg.weighting_hide_answer:
    weights = restore_final_result(tok, train, weights)
  stats = weight_stats_by_kind(tok, train, weights)
  if cfg.trace_every and weighting_from is None and not _traced(trace, cfg.weighting_steps):
    probe = np.arange(min(256, len(train)))
    trace.append(
      trace_point(
        cfg.weighting_steps, tok, [wtrain[i] for i in probe], _keep_probs(weigher, wbatch, probe)
      )
    )
  graphdef, init_state = nnx.split(student)

  # 2. Step difficulties under the student before distillation; clusters of the questions.
  n_steps = np.asarray([len(p.steps) for p in train])
  sb = encode_student(tok, train, max_len=max_len, token_weights=weights)
  d_kpod = _difficulties(student, sb, sb.weights, n_steps)
  d_unif = _difficulties(student, sb, np.ones_like(sb.weights), n_steps)
  table = np.asarray(embedding_table(student))
  q_emb = np.stack([table[tok.encode(p.question)].mean(0) for p in train])
  clusters = kmeans(
    q_emb, min(cfg.num_clusters, len(train)), seed=seeds.seed_int(seed, "question-clusters")
  )
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
    trace,
    val,
    wstep,
  )


def _teacher_train(train: list[MathProblem], rationales: Sequence[MathProblem]):
  questions = {p.question for p in train}
  stray = [p.question for p in rationales if p.question not in questions]
  if stray:
    raise ValueError(
      f"rationales must answer this seed's training questions; {len(stray)} do not, e.g. "
      f"{stray[0][:80]!r}"
    )
  if not rationales:
    raise ValueError("rationales is empty: the teacher kept no training problem")
  return list(rationales)


def _traced(trace: list[dict[str, float]], step: int) -> bool:
  return bool(trace) and trace[-1]["step"] == step


def _keep_probs(
  weigher: TokenWeighting, wbatch: WeightingBatch, rows: np.ndarray
) -> list[np.ndarray]:
  return rationale_token_weights(
    np.asarray(weigher.keep_probabilities(wbatch.rationale[rows], wbatch.rationale_mask[rows])),
    WeightingBatch(*(x[rows] for x in wbatch)),
  )


def _reuse_weighting(earlier: Prepared, tok: WordTokenizer):
  if earlier.weighting_module is None or earlier.weighting_lengths is None:
    raise ValueError("weighting_from holds no trained token weighting module")
  if earlier.tok.itos != tok.itos:
    raise ValueError("weighting_from was prepared with another tokenizer; pass the same one")
  return earlier.weighting_module, list(earlier.weight_trace), list(earlier.weighting_losses)


def _known_words(tok: WordTokenizer, problems: list[MathProblem]) -> list[MathProblem]:
  return [
    p
    for p in problems
    if all(w in tok.stoi for w in split_words(p.question + " " + " ".join(p.steps)))
  ]


def _weighting_view(cfg: KPODConfig, problems: list[MathProblem]) -> list[MathProblem]:
  """The problems as the token weighting module reads them (final result hidden or not)."""
  return [hide_final_result(p) for p in problems] if cfg.weighting_hide_answer else problems


def _heldout_weighting_batch(cfg, seed, tok, max_q, max_r) -> WeightingBatch | None:
  """``cfg.weighting_val`` problems of their own stream that fit the module's padded lengths."""
  if not cfg.weighting_val:
    return None
  held = [
    p
    for p in _weighting_view(
      cfg,
      _known_words(
        tok,
        generate_problems(
          cfg.weighting_val, cfg.problems, seed=seeds.seed_int(seed, "weighting-val")
        ),
      ),
    )
    if len(tok.encode(p.question)) <= max_q and sum(len(tok.encode(s)) for s in p.steps) <= max_r
  ]
  return encode_weighting(tok, held, max_question=max_q, max_rationale=max_r) if held else None


def _train_weighting(cfg, seed, tok, train, student, progress):
  """Trains the token weighting module; returns (module, (max_q, max_r), losses, trace, step)
  with the module of the step ``cfg.weighting_select`` picks."""
  if cfg.weighting_select not in ("last", "any", "whole"):
    raise ValueError(
      f"weighting_select must be 'last', 'any' or 'whole', got {cfg.weighting_select!r}"
    )
  if cfg.weighting_select != "last" and not (cfg.weighting_val and cfg.trace_every):
    raise ValueError("weighting_select needs weighting_val > 0 and trace_every > 0")
  extra = max(cfg.weighting_pool - len(train), 0)
  pool = train + _weighting_view(
    cfg,
    _known_words(
      tok, generate_problems(extra, cfg.problems, seed=seeds.seed_int(seed, "weighting-pool"))
    ),
  )
  max_q = max(len(tok.encode(p.question)) for p in pool)
  max_r = max(sum(len(tok.encode(s)) for s in p.steps) for p in pool)
  wpool = encode_weighting(tok, pool, max_question=max_q, max_rationale=max_r)
  held = _heldout_weighting_batch(cfg, seed, tok, max_q, max_r)
  held_key = seeds.key(seed, "weighting-val-noise")
  wbatch = WeightingBatch(*(x[: len(train)] for x in wpool))
  weigher = TokenWeighting(
    embedding_table(student),
    positions=cfg.weighting_positions,
    budget=cfg.weighting_budget or None,
    predictor=AnswerPredictor(
      tok.vocab_size,
      dim=64,
      max_len=max_q + max_r + 8,
      rngs=nnx.Rngs(seeds.seed_int(seed, "answer-predictor-init")),
    ),
    rngs=nnx.Rngs(seeds.seed_int(seed, "token-weighting-init")),
  )

  wloss = _weighting_loss_fn(
    cfg.alpha,
    cfg.num_prefixes,
    cfg.freeze_predictor,
    cfg.weighting_warmup_full,
    cfg.weighting_warmup_keep,
    cfg.weighting_prefixes,
  )
  trainer = NNXTrainer(weigher, _adam(cfg.weighting_lr), wloss)
  rng = seeds.np_rng(seed, "weighting-batches")
  key = seeds.key(seed, "weighting-steps")
  losses, trace = [], []
  probe = np.arange(min(256, len(train)))
  best = (np.inf, None, None)  # (held-out objective, step, module state)

  def record(s):
    nonlocal best
    point = trace_point(
      s, tok, [train[i] for i in probe], _keep_probs(trainer.model, wbatch, probe)
    )
    if held is not None:
      for name in ("any", "whole"):
        value = weighting_objective(trainer.model, held, held_key, alpha=cfg.alpha, prefixes=name)
        point[f"val_{name}"] = round(value, 4)
      score = point.get(f"val_{cfg.weighting_select}", np.inf)
      if s >= cfg.weighting_warmup and score < best[0]:
        best = (score, s, nnx.state(trainer.model))  # .model is a copy
    trace.append(point)

  bar = progress_bar(cfg.weighting_steps, desc="token weighting", disable=not progress)
  for s in range(cfg.weighting_steps):
    if cfg.trace_every and s % cfg.trace_every == 0:
      record(s)
    if cfg.freeze_predictor and s == cfg.weighting_warmup:
      # A fresh Adam state: the frozen predictor's zero gradients then give exactly zero
      # updates (carried-over moments would keep moving it).
      trainer = NNXTrainer(trainer.model, _adam(cfg.weighting_lr), wloss)
    idx = rng.choice(len(pool), size=min(cfg.batch_size, len(pool)), replace=False)
    batch = WeightingBatch(*(x[idx] for x in wpool))
    loss, _ = trainer.step((batch, s < cfg.weighting_warmup), jax.random.fold_in(key, s))
    losses.append(float(loss))
    bar.update()
  bar.close()
  if cfg.trace_every:
    record(cfg.weighting_steps)
  module, step = trainer.model, cfg.weighting_steps
  if cfg.weighting_select != "last" and best[1] is not None:
    nnx.update(module, best[2])
    step = best[1]
  return module, (max_q, max_r), losses, trace, step


def train_method(
  method: str,
  prep: Prepared,
  cfg: KPODConfig,
  seed: int,
  *,
  progress: bool = True,
  metrics_log: MetricsLog | None = None,
  extra_tests: Mapping[str, tuple[Sequence[MathProblem], int]] | None = None,
  return_model: bool = False,
) -> dict[str, Any]:
  """Trains a fresh copy of the initial student with ``method``; returns accuracies and curves.

  The result holds ``sample`` (the student's greedy generation for the first test problem)
  beside ``sample_reference`` (that problem's reference rationale), and ``step_arithmetic``,
  the fraction of the equations in the student's in-distribution generations whose arithmetic
  is right (the references' always is).

  Methods: ``answer_only`` (question -> answer), ``cot`` (uniform loss on the rationale and
  answer), ``weighting`` (KPOD token weights, whole rationale), ``progressive`` (KPOD schedule
  from uniform-weight difficulties, uniform loss), ``kpod`` (both).

  Each step gets its own key, ``fold_in(seeds.key(seed, "student-steps"), step)``; batches are
  drawn from the ``"student-batches"`` stream of ``seed``. With ``metrics_log``, one record per
  epoch (method, seed, epoch, mean loss, accuracy on the curve problems) is appended to it.
  The curve problems are the first ``cfg.curve_size`` validation problems when
  ``prep.val`` holds any (then ``val_curve`` is the curve), else test problems.

  ``extra_tests`` maps a name to ``(problems, max_len)``: after training, the exact match on
  those problems (greedy decoding up to ``max_len`` tokens in all) is ``{name}_accuracy``.
  With ``return_model``, ``model`` is the trained student (e.g. a teacher for
  :func:`~distill.kpod.teacher_rationales`).
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  student = nnx.merge(prep.graphdef, jax.tree.map(lambda x: x.copy(), prep.init_state))
  trainer = NNXTrainer(student, _adamw(cfg.learning_rate), _student_loss)
  schedule = {"progressive": prep.uniform_schedule, "kpod": prep.kpod_schedule}.get(method)
  weights = prep.token_weights if method in ("weighting", "kpod") else None
  rng = seeds.np_rng(seed, "student-batches")
  key = seeds.key(seed, "student-steps")
  curve, losses, generated_fraction = [], [], []
  steps_per_epoch = len(prep.train) // cfg.batch_size
  bar = progress_bar(cfg.epochs * steps_per_epoch, desc=method, disable=not progress)
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
      loss, _ = trainer.step(batch, jax.random.fold_in(key, epoch * steps_per_epoch + b))
      losses.append(float(loss))
      bar.update()
      bar.set_postfix(
        loss=f"{losses[-1]:.3f}",
        tok_per_s=f"{bar.n * cfg.batch_size * prep.max_len / (time.perf_counter() - t0):.0f}",
      )
    acc, _ = evaluate_exact_match(
      trainer.model, prep.tok, (prep.val or prep.test)[: cfg.curve_size], max_len=prep.max_len
    )
    curve.append(acc)
    if metrics_log is not None:
      metrics_log.write(
        {
          "method": method,
          "seed": seed,
          "epoch": epoch,
          "loss": float(np.mean(losses[-steps_per_epoch:])),
          "curve_accuracy": acc,
        }
      )
  bar.close()
  model = trainer.model
  acc_id, texts = evaluate_exact_match(model, prep.tok, prep.test, max_len=prep.max_len)
  acc_ood, _ = evaluate_exact_match(model, prep.tok, prep.ood, max_len=prep.max_len)
  wrong, total = np.sum([equation_errors(t) for t in texts], axis=0)
  reference = prep.test[0]
  extra = {
    f"{name}_accuracy": evaluate_exact_match(model, prep.tok, problems, max_len=length)[0]
    for name, (problems, length) in (extra_tests or {}).items()
  }
  return {
    "method": method,
    "seed": seed,
    "accuracy": acc_id,
    "ood_accuracy": acc_ood,
    "curve": curve,
    "losses": losses,
    "generated_fraction": generated_fraction,
    "sample": texts[0],
    "sample_reference": " ".join([*reference.steps, "####", reference.answer]),
    "step_arithmetic": float(1.0 - wrong / total) if total else float("nan"),
    "train_seconds": time.perf_counter() - t0,
    **({"val_curve": curve} if prep.val else {}),
    **extra,
    **({"model": model} if return_model else {}),
  }

"""What KPOD's answer predictor gains from each kind of rationale token: the masks' incentive.

The token weighting module learns its masks against a frozen answer predictor (the "reader").
This script trains the module exactly as ``fira-jax distill kpod`` does up to the end of the
reader's warm-up (``KPODConfig`` defaults), then, on fresh problems from the same generator,
measures the reader's answer loss averaged over every prefix length ``k = 0..R`` of the
rationale (``L_p / (R + 1)``, the quantity the masks are trained on) under fixed masks: all
tokens kept, one kind of token masked (the rest kept), only one kind kept, none kept. The loss
increase when a kind is masked, divided by its number of tokens, is what keeping one token of
that kind is worth; the mask-ratio loss charges ``α / R`` per kept token.

Run (from the repository root):
  PYTHONPATH=. python benchmarks/distill/kpod_reader_probe.py --seed 0 --problems 256
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from distill.kpod import (
  KINDS,
  KPODConfig,
  encode_weighting,
  generate_problems,
  prepare,
  split_words,
  token_kinds,
)
from fira_jax.lab import seeds


@nnx.jit
def _prefix_losses(predictor, batch, keep_BxR):
  """The reader's answer loss for every prefix length of the masked rationale.

  .. math::
    L_{b,k} = -\\sum_t w_{b,t} \\log p(a_{b,t} \\mid q_b,\\ (m \\odot r)_{b,<k},\\ a_{b,<t}),
    \\quad k = 0, \\dots, R

  with ``m = keep_BxR`` (masked tokens become the predictor's mask vector) and ``w`` the answer
  mask. Returns ``(B, R + 1)``; column ``k`` reads only the first ``k`` rationale tokens.
  """
  b, r = batch.rationale.shape

  def one(k):
    logits = predictor(
      batch.question,
      batch.question_mask,
      batch.rationale,
      keep_BxR,
      jnp.full((b,), k),
      batch.answer_in,
    )
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, batch.answer_out[..., None], axis=-1)[..., 0]
    return jnp.sum(nll * batch.answer_mask, -1)

  return jax.lax.map(one, jnp.arange(r + 1)).T


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--problems", type=int, default=256, help="fresh problems to probe on")
  parser.add_argument("--alpha", type=float, default=KPODConfig.alpha, help="α for the cost column")
  parser.add_argument("--warmup", type=int, default=None, help="reader warm-up steps (default 400)")
  parser.add_argument("--smoke", action="store_true", help="tiny settings (seconds)")
  args = parser.parse_args(argv)
  if args.problems < 1:
    parser.error(f"--problems must be >= 1, got {args.problems}")
  if args.warmup is not None and args.warmup < 1:
    parser.error(f"--warmup must be >= 1, got {args.warmup}")
  if not args.alpha >= 0:
    parser.error(f"--alpha must be >= 0, got {args.alpha}")
  t0 = time.perf_counter()
  base = KPODConfig.smoke() if args.smoke else KPODConfig()
  # One step past the warm-up: the reader is then final (frozen) and the module exists.
  warmup = base.weighting_warmup if args.warmup is None else args.warmup
  cfg = dataclasses.replace(base, weighting_warmup=warmup, weighting_steps=warmup + 1)
  prep = prepare(cfg, args.seed, progress=True)
  tok, (max_q, max_r) = prep.tok, prep.weighting_lengths
  problems = []
  for p in generate_problems(
    4 * args.problems, cfg.problems, seed=seeds.seed_int(args.seed, "probe-problems")
  ):
    words = split_words(p.question + " " + " ".join(p.steps))
    q, r = len(tok.encode(p.question)), sum(len(tok.encode(s)) for s in p.steps)
    if all(w in tok.stoi for w in words) and q <= max_q and r <= max_r:
      problems.append(p)
  problems = problems[: args.problems]
  batch = encode_weighting(tok, problems, max_question=max_q, max_rationale=max_r)
  kinds = np.full(batch.rationale.shape, "pad", dtype=object)
  for i, p in enumerate(problems):
    words = [tok.itos[j] for s in p.steps for j in tok.encode(s)]
    kinds[i, : len(words)] = token_kinds(words)
  valid = np.asarray(batch.rationale_mask, bool)
  n_tokens = valid.sum(-1)
  predictor = prep.weighting_module.predictor

  def losses(keep):
    """(mean over the R + 1 prefixes, loss at the whole rationale k = R), example means."""
    nll = np.asarray(_prefix_losses(predictor, batch, jnp.asarray(keep, jnp.float32)))
    rows = list(zip(nll, n_tokens, strict=True))
    return float(np.mean([row[: n + 1].mean() for row, n in rows])), float(
      np.mean([row[n] for row, n in rows])
    )

  full, full_end = losses(valid)
  empty, empty_end = losses(np.zeros_like(valid))
  mean_r = float(n_tokens.mean())
  lines = [
    f"Reader after {cfg.weighting_warmup} warm-up steps (seed {args.seed}), {len(problems)} "
    f"fresh problems, mean rationale length R = {mean_r:.1f} tokens. Answer loss (nats, summed "
    "over the answer tokens), averaged over the R + 1 prefix lengths / at the whole rationale: "
    f"all kept {full:.3f} / {full_end:.3f}, none kept {empty:.3f} / {empty_end:.3f}. Cost of "
    f"keeping one token: α/R = {args.alpha / mean_r:.4f} (α = {args.alpha}).",
    "",
    "| kind | tokens per rationale | loss, kind masked (mean / whole) | Δ per token masked "
    "| loss, only kind kept (mean / whole) |",
    "|---|---|---|---|---|",
  ]
  for kind in KINDS:
    is_kind = kinds == kind
    count = is_kind.sum() / len(problems)
    masked, masked_end = losses(valid & ~is_kind)
    only, only_end = losses(is_kind)
    lines.append(
      f"| {kind} | {count:.1f} | {masked:.3f} / {masked_end:.3f} "
      f"| {(masked - full) / max(count, 1e-9):+.4f} | {only:.3f} / {only_end:.3f} |"
    )
  print("\n".join(lines))
  print(f"\n({time.perf_counter() - t0:.0f} s)")
  return 0


if __name__ == "__main__":
  sys.exit(main())

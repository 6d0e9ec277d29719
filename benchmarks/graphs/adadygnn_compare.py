"""Ada-DyGNN vs its propagation baselines on UCI messages (CollegeMsg), clean and noisy.

Policies ``learned`` (Ada-DyGNN), ``all`` (update every neighbour, DyGNN-like), ``none``
(central update only) and ``random`` share one code path. Every finished run is appended as one
line to ``--runs`` (the :mod:`fira_jax.lab.results` format; resumable: runs already there are
skipped), in this order: the clean runs of every policy seed by seed, then the robustness runs
(``--robust-policies`` x ``--rhos``) noise kind by noise kind, seed by seed. ``--report`` renders
``benchmarks/results/graphs/adadygnn.md`` from the runs::

  PYTHONPATH=. nice -n 10 python benchmarks/graphs/adadygnn_compare.py \\
      --data-dir ../shared/data/uci_msg --epochs 5 --seeds 5 --robust-seeds 3 --rhos 0.1,0.3,0.5
  PYTHONPATH=. python benchmarks/graphs/adadygnn_compare.py --report

The full grid of the issue (official epoch count, 5 seeds, every ratio)::

  PYTHONPATH=. python benchmarks/graphs/adadygnn_compare.py --data-dir ../shared/data/uci_msg \\
      --epochs 50 --seeds 5 --robust-seeds 5 --rhos 0.1,0.2,0.3,0.4,0.5 \\
      --runs benchmarks/results/graphs/adadygnn_full_runs.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

import numpy as np

from fira_jax.lab import results, stats
from fira_jax.lab.machine import describe_machine
from graphs.adadygnn import POLICIES, AdaDyGNNConfig
from graphs.adadygnn.cli import load_split, seed_run

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "graphs"
RUNS = RESULTS / "adadygnn_runs.jsonl"
REPORT = RESULTS / "adadygnn.md"
KEY = ("method", "seed", "settings.noise", "settings.rho", "settings.epochs")
METRICS = ("auc", "ap", "mrr", "recall@20", "recall@50")
# DyGNN on UCI as quoted by the README of wyd1502/DGNN (from the DyGNN paper), and that
# repository's own re-implementation.
DYGNN = {"mrr": 0.0342, "recall@20": 0.1284, "recall@50": 0.2547}
DYGNN_REIMPL = {"mrr": 0.0259, "recall@20": 0.1276, "recall@50": 0.2078}


def plan(args) -> list[tuple[str, str, float, int]]:
  """``(policy, noise, rho, seed)`` in the order they run."""
  jobs = [(p, "none", 0.0, s) for s in range(args.seeds) for p in args.policies.split(",")]
  rhos = [float(r) for r in args.rhos.split(",") if r]
  for noise in args.noises.split(","):
    for s in range(args.robust_seed_start, args.robust_seeds):
      for rho in rhos:
        jobs += [(p, noise, rho, s) for p in args.robust_policies.split(",")]
  return jobs


def run(args) -> None:
  path = pathlib.Path(args.runs[0])
  done = set()
  if path.exists():
    done = {tuple(results.field(r, k) for k in KEY) for r in results.read_runs(path, key=KEY)}
  split = load_split("uci", args.data_dir)
  for policy, noise, rho, seed in plan(args):
    if (policy, seed, noise, rho, args.epochs) in done:
      continue
    config = AdaDyGNNConfig(policy=policy)
    res = seed_run(
      split, config, seed, args.epochs, "insert" if noise == "none" else noise, rho, args.progress
    )
    settings = {
      "dataset": "uci",
      "noise": noise,
      "rho": rho,
      "epochs": args.epochs,
      "config": dataclasses.asdict(config),
    }
    metrics = {k: res[k] for k in ("transductive", "inductive", "val", "new_node_val")}
    metrics.update(seconds_per_epoch=res["seconds_per_epoch"], eval_seconds=res["eval_seconds"])
    record = results.make_record(
      policy,
      seed,
      settings,
      metrics,
      command=args.command,
      split_sizes=res["split_sizes"],
      epochs=res["epochs"],
    )
    results.append_run(path, record)
    t = res["transductive"]
    print(f"{policy} {noise} {rho} seed {seed}: MRR {t['mrr']:.4f} AP {t['ap']:.4f}", flush=True)


# ---------------------------------------------------------------------------------- report


def _get(run, setting, metric):
  return results.field(run, f"metrics.{setting}.{metric}")


def _by_seed(runs, setting, metric) -> dict[int, float]:
  return {r["seed"]: _get(r, setting, metric) for r in runs}


def _clean(runs, policy):
  return [r for r in runs if r["method"] == policy and r["settings"]["noise"] == "none"]


def _main_tables(runs, policies) -> list[str]:
  out = []
  for setting, title in (
    ("transductive", "Transductive (test)"),
    ("inductive", "Inductive (new-node test)"),
  ):
    header = [
      "policy",
      "seeds",
      "AUC",
      "AP",
      "MRR",
      "R@20",
      "R@50",
      "MRR (no self)",
      "AUC (global)",
    ]
    rows = []
    for p in policies:
      rs = _clean(runs, p)
      if not rs:
        continue

      def cell(m, scale=100, digits=2, rs=rs, setting=setting):
        return stats.fmt_pm([_get(r, setting, m) for r in rs], scale=scale, digits=digits)

      rows.append(
        [
          f"`{p}`",
          len(rs),
          cell("auc"),
          cell("ap"),
          cell("mrr", 1, 4),
          cell("recall@20"),
          cell("recall@50"),
          cell("mrr_exclude_self", 1, 4),
          cell("auc_global"),
        ]
      )
    out += [f"### {title}", "", results.markdown_table(header, rows), ""]
  return out


def _paired_tables(runs, policies) -> list[str]:
  out = []
  header = ["baseline", "pairs", "Δ MRR (trans.)", "Δ AP (trans.)", "Δ MRR (ind.)", "Δ AP (ind.)"]
  rows = []
  mine = _clean(runs, "learned")
  for base in [p for p in policies if p != "learned"]:
    other = _clean(runs, base)
    cells = []
    for setting, m, scale, digits in (
      ("transductive", "mrr", 1, 4),
      ("transductive", "ap", 100, 2),
      ("inductive", "mrr", 1, 4),
      ("inductive", "ap", 100, 2),
    ):
      d = stats.paired_by_key(_by_seed(mine, setting, m), _by_seed(other, setting, m))
      cells.append(d.fmt(digits, scale=scale) if d else "–")
    n = len(
      set(_by_seed(mine, "transductive", "mrr")) & set(_by_seed(other, "transductive", "mrr"))
    )
    rows.append([f"learned − `{base}`", n, *cells])
  out += [results.markdown_table(header, rows), ""]
  return out


def _robust_tables(runs) -> list[str]:
  noisy = [r for r in runs if r["settings"]["noise"] != "none"]
  if not noisy:
    return ["No noisy runs yet.", ""]
  out = []
  rhos = sorted({r["settings"]["rho"] for r in noisy})
  pols = [p for p in POLICIES if any(r["method"] == p for r in noisy)]
  for noise in sorted({r["settings"]["noise"] for r in noisy}):
    for metric, scale, digits, name in (("mrr", 1, 4, "MRR"), ("ap", 100, 2, "AP (%)")):
      header = ["policy", "ρ = 0", *[f"ρ = {x:g}" for x in rhos]]
      rows = []
      for p in pols:
        row = [f"`{p}`"]
        for rho in [0.0, *rhos]:
          rs = (
            _clean(runs, p)
            if rho == 0
            else [
              r
              for r in noisy
              if r["method"] == p
              and r["settings"]["noise"] == noise
              and r["settings"]["rho"] == rho
            ]
          )
          vals = [_get(r, "transductive", metric) for r in rs]
          row.append(
            f"{stats.fmt_pm(vals, scale=scale, digits=digits)} (n={len(vals)})" if vals else "–"
          )
        rows.append(row)
      out += [
        f"#### `{noise}`: transductive {name} against ρ",
        "",
        results.markdown_table(header, rows),
        "",
      ]
    # drop relative to rho = 0, learned vs all, paired by seed
    if {"learned", "all"} <= set(pols):
      header = ["ρ", "pairs", "MRR drop `learned`", "MRR drop `all`", "Δ drop (learned − all)"]
      rows = []
      for rho in rhos:
        drops = {}
        for p in ("learned", "all"):
          base = _by_seed(_clean(runs, p), "transductive", "mrr")
          cur = _by_seed(
            [
              r
              for r in noisy
              if r["method"] == p
              and r["settings"]["noise"] == noise
              and r["settings"]["rho"] == rho
            ],
            "transductive",
            "mrr",
          )
          drops[p] = {s: base[s] - cur[s] for s in set(base) & set(cur)}
        seeds = sorted(set(drops["learned"]) & set(drops["all"]))
        if not seeds:
          continue
        a = [drops["learned"][x] for x in seeds]
        b = [drops["all"][x] for x in seeds]
        rows.append(
          [
            f"{rho:g}",
            len(a),
            f"{np.mean(a):+.4f}",
            f"{np.mean(b):+.4f}",
            stats.paired_delta(a, b).fmt(4),
          ]
        )
      out += [
        f"#### `{noise}`: MRR lost relative to ρ = 0 (positive = worse; paired by seed)",
        "",
        results.markdown_table(header, rows),
        "",
      ]
  return out


def _noise_policy_table(runs) -> list[str]:
  rows = []
  for r in runs:
    if r["method"] != "learned" or r["settings"]["noise"] != "insert":
      continue
    last = r["epochs"][-1]
    rows.append(
      (r["settings"]["rho"], r["seed"], last["noise_update_rate"], last["clean_update_rate"])
    )
  if not rows:
    return []
  table = []
  for rho in sorted({x[0] for x in rows}):
    sel = [x for x in rows if x[0] == rho]
    table.append(
      [
        f"{rho:g}",
        len(sel),
        stats.fmt_pm([x[2] for x in sel], scale=100),
        stats.fmt_pm([x[3] for x in sel], scale=100),
      ]
    )
  return [
    "### How often the learned policy updates a neighbour (last training epoch, `insert`)",
    "",
    "Update rate (%) over neighbour slots whose interaction was injected noise vs real.",
    "",
    results.markdown_table(["ρ", "seeds", "noise slots updated", "real slots updated"], table),
    "",
  ]


def _drop_delta(runs, noise, rho):
  """Paired (by seed) MRR drop from rho = 0 of learned minus that of all, or None."""
  drops = {}
  for p in ("learned", "all"):
    base = _by_seed(_clean(runs, p), "transductive", "mrr")
    cur = _by_seed(
      [
        r
        for r in runs
        if r["method"] == p and r["settings"]["noise"] == noise and r["settings"]["rho"] == rho
      ],
      "transductive",
      "mrr",
    )
    drops[p] = {s: base[s] - cur[s] for s in set(base) & set(cur)}
  return stats.paired_by_key(drops["learned"], drops["all"])


def _seeds(n: int) -> str:
  return f"{n} seed" + ("" if n == 1 else "s")


def _headline(runs) -> list[str]:
  """Measured answers: is learned better than each baseline, does it degrade less than all."""
  out = []
  mine = _by_seed(_clean(runs, "learned"), "transductive", "mrr")
  for base in ("all", "none", "random"):
    d = stats.paired_by_key(mine, _by_seed(_clean(runs, base), "transductive", "mrr"))
    if d is None:
      continue
    verdict = "above" if d.low > 0 else "below" if d.high < 0 else "not distinguishable from"
    if d.n < 2:
      verdict = "one seed only, no interval; " + ("above" if d.mean > 0 else "below")
    out.append(
      f"- Clean UCI, transductive MRR: `learned` − `{base}` = {d.fmt(4)} over "
      f"{_seeds(d.n)} ({verdict} zero)."
    )
  for noise in sorted({r["settings"]["noise"] for r in runs} - {"none"}):
    rhos = sorted({r["settings"]["rho"] for r in runs if r["settings"]["noise"] == noise})
    for rho in [x for x in rhos if x >= 0.3]:
      d = _drop_delta(runs, noise, rho)
      if d is None:
        continue
      less = "less" if d.mean < 0 else "more"
      sure = (
        "no interval"
        if d.n < 2
        else "interval excludes 0"
        if d.low > 0 or d.high < 0
        else "interval includes 0"
      )
      out.append(
        f"- `{noise}`, ρ = {rho:g}: `learned` loses {less} MRR than `all` "
        f"(Δ drop {d.fmt(4)}; {_seeds(d.n)}, {sure})."
      )
  return [*out, ""] if out else []


def report(args) -> None:
  runs = results.read_runs(*args.runs, key=KEY)
  policies = [p for p in POLICIES if _clean(runs, p)]
  epochs = sorted({r["settings"]["epochs"] for r in runs})
  machines = sorted({r["machine"] for r in runs})
  clean = [r for r in runs if r["settings"]["noise"] == "none"]
  lines = [
    "# Ada-DyGNN on UCI messages (CollegeMsg): policies, robustness to noise",
    "",
    f"{len(runs)} runs ({len(clean)} clean), {', '.join(map(str, epochs))} training epochs, "
    f"machine: {'; '.join(machines)}. Generated by `benchmarks/graphs/adadygnn_compare.py "
    "--report` from `adadygnn_runs.jsonl`; the page's fixed text is in the script.",
    "",
    HOW,
    PROTOCOL,
    "## Headline (as measured)",
    "",
    *_headline(runs),
    "## Policies on clean UCI (mean ± std over seeds; AUC/AP/R@k in %)",
    "",
    *_main_tables(runs, policies),
    "### Paired differences, learned − baseline (per seed, 95% t-interval)",
    "",
    *_paired_tables(runs, policies),
    "## Robustness: noise injected into the training stream",
    "",
    *_robust_tables(runs),
    *_noise_policy_table(runs),
    "## DyGNN anchor beside ours (UCI, transductive)",
    "",
  ]
  rows = [
    ["DyGNN (paper, quoted by wyd1502/DGNN)", DYGNN["mrr"], DYGNN["recall@20"], DYGNN["recall@50"]],
    ["DyGNN re-implementation (wyd1502/DGNN)", *DYGNN_REIMPL.values()],
  ]
  for p in policies:
    rs = _clean(runs, p)
    rows.append(
      [
        f"ours, `{p}` ({len(rs)} seeds)",
        *[
          f"{np.mean([_get(r, 'transductive', m) for r in rs]):.4f}"
          for m in ("mrr", "recall@20", "recall@50")
        ],
      ]
    )
  lines += [results.markdown_table(["model", "MRR", "R@20", "R@50"], rows), "", ANCHOR_NOTE, ""]
  spe = {p: [r["metrics"]["seconds_per_epoch"] for r in _clean(runs, p)] for p in policies}
  evs = {p: [r["metrics"]["eval_seconds"] for r in _clean(runs, p)] for p in policies}
  lines += [
    "## Seconds per training epoch (median over runs; 36,556 train edges, batch 16)",
    "",
    "Epochs after the first (no compilation). The CPU runs shared a 2-core machine with other "
    "jobs (two or three of these runs at a time, load average 10 to 30), so these are upper "
    "bounds; "
    "the evaluation (8 streams: validation, test and the new-node sets under both protocols) "
    "adds the `eval s` column once per run.",
    "",
  ]
  table = [
    [f"`{p}`", f"{np.median(v):.1f}", f"{np.median(evs[p]):.1f}", len(v)] for p, v in spe.items()
  ]
  lines += [results.markdown_table(["policy", "s / epoch", "eval s", "runs"], table)]
  lines += ["", f"Machine: {describe_machine()} (this report's renderer).", ""]
  pathlib.Path(args.report_path).write_text("\n".join(lines))
  print(f"wrote {args.report_path}")


HOW = """\
## How it was run

A reduced grid, sized to finish in about 70 minutes on a 2-core CPU shared with other jobs:
3 training epochs (the official scripts train 50 for AUC/AP and 100 for MRR), 5 seeds for
the clean comparison of the four policies; for the noise experiment `learned` and `all` at
ρ ∈ {0.1, …, 0.5} over 5 seeds for `insert` and for `delete` (the `n=` in each cell).
Several processes ran side by side, each on its own runs file, concatenated afterwards (a run
present twice would be refused); the last one ran in a later session:

```
B="env PYTHONPATH=. nice -n 10 python benchmarks/graphs/adadygnn_compare.py \\
   --data-dir ../shared/data/uci_msg --epochs 3 --seeds 0"
$B --seeds 5 --robust-seeds 0                                     # clean: 4 policies x 5 seeds
$B --robust-seeds 2 --rhos 0.1,0.3,0.5 --runs r1.jsonl            # insert, delete: seeds 0-1
$B --noises insert --robust-seed-start 2 --robust-seeds 5 --rhos 0.1,0.3,0.5 --runs r2.jsonl
$B --noises delete --robust-seed-start 2 --robust-seeds 4 --rhos 0.1,0.3,0.5 --runs r3.jsonl
$B --noises delete --robust-seed-start 4 --robust-seeds 5 --rhos 0.1,0.3,0.5 --runs r4.jsonl
$B --noises insert --robust-seeds 2 --rhos 0.2,0.4 --runs r5.jsonl
$B --noises delete --robust-seeds 2 --rhos 0.2,0.4 --runs r6.jsonl
$B --noises insert --robust-seed-start 2 --robust-seeds 5 --rhos 0.2,0.4 --runs r7.jsonl
$B --noises delete --robust-seed-start 2 --robust-seeds 5 --rhos 0.2,0.4 --runs r8.jsonl
cat r?.jsonl >> benchmarks/results/graphs/adadygnn_runs.jsonl
PYTHONPATH=. python benchmarks/graphs/adadygnn_compare.py --report
```

The full grid (80 runs of 50 epochs; about 7 hours at the ~6 s per epoch of an unloaded
2-core CPU) is resumable and takes the same script:

```
PYTHONPATH=. python benchmarks/graphs/adadygnn_compare.py --data-dir ../shared/data/uci_msg \\
    --epochs 50 --seeds 5 --robust-seeds 5 --rhos 0.1,0.2,0.3,0.4,0.5 \\
    --runs benchmarks/results/graphs/adadygnn_full_runs.jsonl
```
"""

PROTOCOL = """\
**Protocol.** Data: `CollegeMsg.txt` (59,835 directed messages, 1,899 users), timestamps shifted
to 0; chronological 80/10/10 split by time quantiles; 189 nodes seen after the training period
are held out (edges touching them removed from training): train 36,556, validation 5,983, test
5,984, new-node validation 2,693, new-node test 3,366 edges. Model: memory 64, messages 32,
k = 20 most recent neighbours, dropout 0.5, Adam 1e-4, batch 16, the paper-form stability reward
(mean cosine between each centre and its updated neighbours), entropy bonus 0.1, policy loss on
both sides, padded neighbour slots masked. The last epoch's model is evaluated. AUC/AP: test
stream in batches of 30, one random negative per positive, scored by the forward pass that then
writes the batch into memory, mean over batches ("global": over all scores at once). MRR and
Recall@k: batches of 16, each endpoint's partner ranked by cosine similarity among all 1,899
memory rows before the batch is written, the node itself included in its list (the DyGNN
protocol; "no self": excluded). Inductive: the new-node test edges, from the validation memory.
Noise (training stream only): `insert` adds round(ρ·36,556) uniform fake edges at resampled train
times; `delete` drops round(ρ·36,556) train edges.
"""

ANCHOR_NOTE = """\
Protocol differences: DyGNN's numbers come from its own paper (a different split of UCI and its
own ranking code, self included); ours follow the Ada-DyGNN official evaluation described above
(80/10/10 by time, memory rows ranked before each test batch is written), with far fewer
training epochs than the official 100 for MRR, so the rows are of the same kind but not a
like-for-like reproduction.
"""


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data-dir", default=None, help="folder with CollegeMsg.txt")
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--seeds", type=int, default=5, help="seeds of the clean runs")
  parser.add_argument("--policies", default=",".join(POLICIES))
  parser.add_argument("--robust-seeds", type=int, default=3)
  parser.add_argument(
    "--robust-seed-start",
    type=int,
    default=0,
    help="first robustness seed (to split seeds across processes)",
  )
  parser.add_argument("--robust-policies", default="learned,all")
  parser.add_argument("--noises", default="insert,delete")
  parser.add_argument("--rhos", default="0.1,0.3,0.5")
  parser.add_argument("--runs", action="append", default=None)
  parser.add_argument("--report", action="store_true", help="render the markdown and exit")
  parser.add_argument("--report-path", default=str(REPORT))
  parser.add_argument("--progress", action="store_true")
  args = parser.parse_args(argv)
  args.runs = args.runs or [str(RUNS)]
  args.command = results.command_line(prog="benchmarks/graphs/adadygnn_compare.py")
  if args.report:
    report(args)
  else:
    run(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())

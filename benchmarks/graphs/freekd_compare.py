"""Single GNN vs FreeKD vs FreeKD-Prompt vs FreeKD++ (and ablations) on Cora / Citeseer.

Every finished run is appended as one line to ``--runs`` (the :mod:`fira_jax.lab.results`
format: method, seed, settings, metrics, machine, command; resumable: runs already there are
skipped), and ``--report`` renders ``benchmarks/results/graphs/freekd.md`` from the runs (seconds
per epoch from CPU runs where a cell has any, else marked with the accelerator). Runs are ordered
as given, so put the most important first::

  PYTHONPATH=. nice python benchmarks/graphs/freekd_compare.py --datasets cora --backbones gcn \\
      --methods single,freekd,random_direction,no_structure --seeds 10 --split public
  PYTHONPATH=. python benchmarks/graphs/freekd_compare.py --report

Several processes (or machines) may write their own runs files; pass them all to ``--report``
(``--runs a.jsonl --runs b.jsonl``), a run present twice is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import sys

import numpy as np

from fira_jax.lab import results, stats
from graphs import FreeKDConfig, NodeTrainConfig, load_planetoid, random_split
from graphs.freekd import train_teacher
from graphs.freekd.cli import freekd_run, single_run, teacher_kd_run

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _freekd_tables import overview_table, select_settings, selected_tables  # noqa: E402  (this folder's helper module)

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "graphs"
RUNS = RESULTS / "freekd_runs.jsonl"
REPORT = RESULTS / "freekd.md"
PAGE = HERE / "freekd_page.md"  # the page's fixed text; the tables replace {{TABLES}}
KEY = (
  "settings.protocol",
  "settings.dataset",
  "settings.split",
  "settings.backbone",
  "method",
  "seed",
)
PROTOCOL = "selected"  # runs of the validation-selected grid (issue 22); earlier runs have none
METHODS = {  # name -> (number of GNNs, FreeKDConfig overrides); "single" is one GNN alone
  "single": (1, {}),
  "freekd": (2, {}),
  "random_direction": (2, {"direction": "random", "structure": "all"}),
  "no_structure": (2, {"structure": "none", "rho": 0.0}),
  "mutual": (2, {"direction": "mutual", "structure": "all"}),
  "local_reward": (2, {"reward": "local"}),
  "prompt": (2, {"prompt": "shared"}),
  "prompt_clip0.01": (2, {"prompt": "shared", "prompt_clip": 0.01}),
  "plusplus": (3, {"feature_mask_rate": 0.1, "edge_drop_rate": 0.1}),
  "dml": (2, {"direction": "mutual", "structure": "none", "rho": 0.0}),
  # DML with FreeKD++'s three networks: is FreeKD++'s gain the third network or the views?
  "dml3": (3, {"direction": "mutual", "structure": "none", "rho": 0.0}),
  "teacher_kd": (1, {}),  # a deep residual GCN teacher, then KD into one shallow student
  "oracle": (2, {"direction": "oracle"}),
  "freekd_local": (2, {"reward": "local"}),
  "freekd_entropy": (2, {"entropy_bonus": 0.05}),
}
GLANCE = ("freekd", "random_direction", "no_structure", "prompt", "plusplus")
# Paper numbers (percent) as extracted from the papers' tables; their split is most likely
# 60/20/20 random splits, not the public one.
PAPER = {
  "cora": {"gcn": 85.12, "gat": 85.45, "sage": 85.36, "freekd": 86.84, "prompt": 87.44},
  "citeseer": {"gcn": 75.42, "gat": 75.66, "sage": 76.56, "freekd": 77.78, "prompt": 78.68},
}


def parse_grid(text: str) -> list[dict]:
  """``"mu=1,temperature=1;mu=3,temperature=2"`` -> one override dict per setting."""
  out = []
  for part in filter(None, (p.strip() for p in text.split(";"))):
    setting = {}
    for item in part.split(","):
      name, _, value = item.partition("=")
      if name not in FreeKDConfig.__dataclass_fields__ or not value:
        raise ValueError(f"grid items are FreeKDConfig field=value, got {item!r}")
      setting[name] = float(value)
    out.append(setting)
  return out or [{}]


def tag(setting: dict) -> str:
  """A setting's short name, e.g. ``mu3_temperature2`` (``default`` when empty)."""
  return "_".join(f"{k}{v:g}" for k, v in sorted(setting.items())) or "default"


def select(runs: list[dict], seeds: set[int]) -> dict[tuple, str]:
  """Per (dataset, split, backbone, base method): the grid tag of best mean validation
  accuracy (mean over the method's networks) over the seeds of ``seeds`` that every tag ran."""
  return select_settings([r for r in runs if r["settings"].get("protocol") == PROTOCOL], seeds)


def _teacher(cache: dict, data, key: tuple, seed: int, train_config):
  if key not in cache:
    cache[key] = train_teacher(data, train_config=train_config, seed=seed)
  return cache[key]


def run(args: argparse.Namespace) -> None:
  """Runs every (dataset, split, backbone, method, grid setting, seed) not yet in ``--runs``.

  Method ``m`` with grid setting ``g`` is recorded as method ``m@<tag(g)>``; with
  ``--extend-selected`` only the setting that :func:`select` picks (on the seeds of
  ``--select-seeds``) runs, for every seed of ``--seeds``; with ``--selected-from
  SPLIT:BACKBONE`` only the setting selected in that cell of the same dataset runs (a selection
  transferred to cells that cannot afford their own grid). ``--seed-major`` runs seed ``s`` of
  every cell before seed ``s + 1`` of any, so a grid stopped early covers every cell.
  """
  path = pathlib.Path(args.runs[0])
  existing = results.read_runs(path, key=KEY) if path.exists() else []
  done = {tuple(results.field(r, k, None) for k in KEY) for r in existing}
  train_config = NodeTrainConfig(epochs=args.epochs, patience=args.patience)
  teachers: dict = {}
  datasets: dict = {}
  for job in jobs(args, existing):
    dataset, split, backbone, method, setting, seed, source = job
    name = method if method == "single" else f"{method}@{tag(setting)}"
    if (PROTOCOL, dataset, split, backbone, name, seed) in done:
      continue
    if dataset not in datasets:
      datasets[dataset] = load_planetoid(dataset, args.data_dir)
    base = datasets[dataset]
    data = random_split(base, seed) if split == "random" else base
    metrics, settings = _one(
      data, (dataset, split, backbone), method, setting, seed, train_config, teachers
    )
    settings.update(epochs=args.epochs, patience=args.patience)
    if source and method != "single":
      settings["selected_from"] = source
    record = results.make_record(name, seed, settings, metrics, command=args.command)
    results.append_run(path, record)
    done.add((PROTOCOL, dataset, split, backbone, name, seed))
    print(f"{dataset} {split} {backbone} {name} seed {seed}: {metrics['test_acc']}", flush=True)


def jobs(args: argparse.Namespace, existing: list[dict]) -> list[tuple]:
  """The runs to make, in order: ``(dataset, split, backbone, method, setting, seed, source)``
  (``source``: the ``"split:backbone"`` cell whose selection is used, else ``""``)."""
  grid = parse_grid(args.grid)
  chosen = None
  if args.extend_selected or args.selected_from:
    chosen = select(existing, set(range(args.select_seeds)))
  out = []
  seeds = range(args.seed_start, args.seeds)
  for dataset in args.datasets.split(","):
    for split in args.split.split(","):
      for backbone in args.backbones.split(","):
        for method in args.methods.split(","):
          settings_list, source = ([{}] if method == "single" else grid), ""
          if chosen is not None and method != "single":
            src_split, src_bb = split, backbone
            if args.selected_from:
              src_split, _, src_bb = args.selected_from.partition(":")
              source = args.selected_from
            picked = chosen.get((dataset, src_split, src_bb, method))
            if picked is None and args.selected_from:
              raise ValueError(f"no selection for {dataset} {args.selected_from} {method}")
            settings_list = [g for g in grid if tag(g) == picked]
          for setting in settings_list:
            out += [(dataset, split, backbone, method, setting, s, source) for s in seeds]
  if args.seed_major:
    out.sort(key=lambda job: job[5])  # stable: the cell order is kept within a seed
  return out


def _one(data, cell, method, setting, seed, train_config, teachers):
  """One run of ``method`` with grid ``setting``: its metrics and settings."""
  dataset, split, backbone = cell
  k, overrides = METHODS[method]
  settings = {"protocol": PROTOCOL, "dataset": dataset, "split": split, "backbone": backbone}
  settings.update(num_gnns=k, base_method=method, tag=tag(setting) if method != "single" else "")
  if method == "single":
    return single_run(data, backbone, seed, train_config), settings
  config = FreeKDConfig(**{**overrides, **setting})
  settings["config"] = dataclasses.asdict(config)
  if method == "teacher_kd":
    teacher = _teacher(teachers, data, (dataset, split, seed), seed, train_config)
    metrics = teacher_kd_run(
      data, backbone, seed, train_config, mu=config.mu, temperature=config.temperature,
      teacher=teacher,
    )  # fmt: skip
    return metrics, settings
  return freekd_run(data, [backbone] * k, config, seed, train_config), settings


def _platform(run: dict) -> str:
  """``"cpu"``, or ``"gpu (<device kind>)"`` from the machine line's accelerator."""
  m = re.search(r"\d+ × (.+?) \(runs on it\)", run["machine"])
  return f"gpu ({m.group(1)})" if m else "cpu"


def _acc(runs: list[dict]) -> np.ndarray:
  return np.array([results.field(r, "metrics.test_acc") for r in runs]) * 100  # [seeds, K]


def _paired(runs: list[dict], single: list[dict]):
  """Per-seed (mean over the method's GNNs) minus (the single GNN), in points."""
  base = {r["seed"]: r["metrics"]["test_acc"][0] * 100 for r in single}
  mine = {r["seed"]: float(np.mean(np.asarray(r["metrics"]["test_acc"]) * 100)) for r in runs}
  seeds = sorted(set(base) & set(mine))
  return [mine[s] - base[s] for s in seeds]


def _pm_delta(diffs) -> str:
  mean, std = stats.mean_std(diffs)
  return f"{mean:+.2f} ± {std:.2f}"


def _seconds(runs: list[dict]) -> str:
  on_cpu = [r["metrics"]["seconds_per_epoch"] for r in runs if _platform(r) == "cpu"]
  if on_cpu:
    return f"{np.median(on_cpu):.3f}"
  spe = np.median([r["metrics"]["seconds_per_epoch"] for r in runs])
  return f"{spe:.3f} ({_platform(runs[0])})"


def _row(ds, bb, method, runs, single) -> list[str]:
  acc = _acc(runs)
  per = ", ".join(stats.fmt_pm(acc[:, i]) for i in range(acc.shape[1]))
  diffs = _paired(runs, single) if method != "single" else []
  paper = PAPER.get(ds, {}).get(bb if method == "single" else method)
  shown = paper is not None and method in ("single", "freekd", "prompt")
  return [
    ds,
    bb,
    method,
    str(len(runs)),
    per,
    stats.fmt_pm(acc.mean(1)),
    _pm_delta(diffs) if diffs else "–",
    stats.paired_delta(diffs, [0.0] * len(diffs)).fmt() if len(diffs) > 1 else "–",
    _seconds(runs),
    f"{paper:.2f}" if shown else "–",
  ]


FULL_HEADER = (
  "dataset",
  "backbone",
  "method",
  "seeds",
  "test acc % (mean ± std, per GNN)",
  "mean over GNNs %",
  "paired Δ vs single (pts)",
  "95% t interval of Δ",
  "s/epoch",
  "paper %",
)


def tables(runs: list[dict]) -> str:
  """The at-a-glance tables and the full tables, per split, as markdown."""
  groups = results.group_runs(runs, ("settings.dataset", "settings.split", "settings.backbone"))
  by_method: dict = {}
  for (ds, split, bb), rs in groups.items():
    for method, mrs in results.group_runs(rs, ("method",)).items():
      by_method[(ds, split, bb, method[0])] = sorted(mrs, key=lambda r: r["seed"])
  glance, full = [], []
  for split in ("public", "random"):
    keys = sorted(k for k in by_method if k[1] == split)
    if not keys:
      continue
    glance += _glance(by_method, split, keys)
    body = [
      _row(ds, bb, m, by_method[(ds, s, bb, m)], by_method.get((ds, s, bb, "single"), []))
      for ds, s, bb, m in keys
    ]
    full += [f"### {split} split", "", results.markdown_table(FULL_HEADER, body), ""]
  return "\n".join(["### At a glance", "", *glance, *full])


def _glance(by_method: dict, split: str, keys: list) -> list[str]:
  """The paired-Δ overview of one split: one row per (dataset, backbone)."""
  cells = sorted(keys, key=_glance_order)
  methods = [m for m in GLANCE if any(k[3] == m for k in cells)]
  rows = []
  for ds, bb in dict.fromkeys((k[0], k[2]) for k in cells):
    single = by_method.get((ds, split, bb, "single"), [])
    deltas = [_paired(by_method.get((ds, split, bb, m), []), single) for m in methods]
    rows.append(
      [ds, bb, stats.fmt_pm(_acc(single)[:, 0]) if single else "–"]
      + [_pm_delta(d) if d else "–" for d in deltas]
    )
  counts = {len(v) for k, v in by_method.items() if k[1] == split}
  seeds = f"{counts.pop()} seeds" if len(counts) == 1 else "the seeds"
  return [
    f"Paired Δ vs the single GNN (points, mean ± std over {seeds}), {split} split:",
    "",
    results.markdown_table(["dataset", "backbone", "single %", *methods], rows),
    "",
  ]


def _glance_order(key) -> tuple:
  order = {"cora": 0, "citeseer": 1, "gcn": 0, "gat": 1, "sage": 2}
  return (order.get(key[0], 9), key[0], order.get(key[2], 9), key[2])


def report(args: argparse.Namespace) -> str:
  """Renders the whole results page (fixed text around the tables) from the runs files."""
  runs = results.read_runs(*args.runs, key=KEY)
  new = [r for r in runs if results.field(r, "settings.protocol", None) == PROTOCOL]
  old = [r for r in runs if results.field(r, "settings.protocol", None) is None]
  text = PAGE.read_text(encoding="utf-8").replace("{{TABLES}}", tables(old))
  text = text.replace("{{SELECTED}}", selected_tables(new, args.select_seeds))
  text = text.replace("{{OVERVIEW}}", overview_table(new, args.select_seeds))
  if args.out:
    pathlib.Path(args.out).write_text(text, encoding="utf-8")
  return text


def main(argv: list[str] | None = None) -> None:
  """Runs the grid (default) or renders the page (``--report``)."""
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  default_data = os.environ.get("FIRA_JAX_DATA_DIR", str(HERE.parents[2] / "shared" / "data"))
  p.add_argument("--data-dir", default=default_data + "/planetoid")
  p.add_argument(
    "--runs", action="append", help=f"runs file(s) (default {RUNS}; runs go to the first)"
  )
  p.add_argument("--datasets", default="cora,citeseer")
  p.add_argument("--backbones", default="gcn,gat,sage")
  p.add_argument("--methods", default=",".join(METHODS))
  p.add_argument("--seeds", type=int, default=10, help="run seeds --seed-start..seeds-1")
  p.add_argument("--seed-start", type=int, default=0)
  p.add_argument(
    "--grid",
    default="",
    help="FreeKDConfig settings to try per method, e.g. 'mu=1,temperature=1;mu=3,temperature=2'",
  )
  p.add_argument(
    "--extend-selected",
    action="store_true",
    help="run only each cell's validation-selected grid setting (selected on --select-seeds)",
  )
  p.add_argument("--select-seeds", type=int, default=5, help="select on seeds 0..this-1")
  p.add_argument(
    "--selected-from",
    default="",
    help="SPLIT:BACKBONE: run only the setting selected in that cell of the same dataset",
  )
  p.add_argument(
    "--seed-major",
    action="store_true",
    help="run seed s of every cell before seed s+1 of any (a stopped grid covers every cell)",
  )
  p.add_argument("--split", default="public", help="public, random, or both comma-separated")
  p.add_argument("--epochs", type=int, default=200)
  p.add_argument("--patience", type=int, default=100)
  p.add_argument("--progress", action="store_true")
  p.add_argument("--report", action="store_true", help="render the results page from the runs")
  p.add_argument("--out", default=str(REPORT), help="where --report writes ('' prints only)")
  argv = sys.argv[1:] if argv is None else list(argv)
  args = p.parse_args(argv)
  args.runs = args.runs or [str(RUNS)]
  if not set(args.split.split(",")) <= {"public", "random"}:
    raise ValueError(f"--split takes public, random or both, got {args.split!r}")
  args.command = results.command_line(["python", "benchmarks/graphs/freekd_compare.py", *argv])
  if args.report:
    text = report(args)
    if not args.out:
      print(text)
  else:
    run(args)


if __name__ == "__main__":
  main()

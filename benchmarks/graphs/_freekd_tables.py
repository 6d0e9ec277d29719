"""Tables of the validation-selected FreeKD grid (issue 22), rendered from its runs.

A run's method is ``<base>@<tag>``: the base method (``dml``, ``freekd``, ``teacher_kd``, …)
with one grid setting (``mu3_temperature2``); ``single`` has no grid. Per (dataset, split,
backbone) and base method, the setting with the best mean validation accuracy over the
selection seeds is kept; its test accuracy over every seed it ran is reported, paired by seed
with the single GNN and with DML.
"""

from __future__ import annotations

import numpy as np

from fira_jax.lab import results, stats

__all__ = ["select_settings", "selected_tables", "overview_table"]

ORDER = (
  "single",
  "dml",
  "dml3",
  "freekd",
  "random_direction",
  "no_structure",
  "prompt",
  "plusplus",
  "teacher_kd",
  "freekd_local",
  "freekd_entropy",
  "oracle",
)
DIAG = ("top_share", "right_sender_train", "right_sender_val", "reward", "policy_entropy")


def _mean_test(run: dict) -> float:
  return float(np.mean(run["metrics"]["test_acc"])) * 100


def _mean_val(run: dict) -> float:
  return float(np.mean(run["metrics"]["val_acc"])) * 100


def _by_seed(runs: list[dict]) -> dict[int, float]:
  return {r["seed"]: _mean_test(r) for r in runs}


def _fmt_delta(d) -> str:
  """``+0.88 [+0.59, +1.17] (n=10)``; ``+0.88 (n=1)`` for one pair; ``–`` for none."""
  if d is None or d.n < 1:
    return "–"
  if d.n < 2:
    return f"{d.mean:+.2f} (n=1)"
  return f"{d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}] (n={d.n})"


def _delta(mine: list[dict], other: list[dict]) -> str:
  return _fmt_delta(stats.paired_by_key(_by_seed(mine), _by_seed(other)))


def _cells(runs: list[dict]) -> dict:
  """(dataset, split, backbone) -> base method -> tag -> runs sorted by seed."""
  out: dict = {}
  for r in runs:
    st = r["settings"]
    cell = (st["dataset"], st["split"], st["backbone"])
    out.setdefault(cell, {}).setdefault(st["base_method"], {}).setdefault(st["tag"], []).append(r)
  for methods in out.values():
    for tags in methods.values():
      for t in tags:
        tags[t].sort(key=lambda r: r["seed"])
  return out


CELL_ORDER = {"cora": 0, "citeseer": 1, "public": 0, "random": 1, "gcn": 0, "gat": 1, "sage": 2}


def _sorted_cells(runs: list[dict]) -> list[tuple]:
  """``_cells`` items, Cora before Citeseer, public before random, GCN, GAT, SAGE."""
  return sorted(_cells(runs).items(), key=lambda c: [CELL_ORDER.get(x, 9) for x in c[0]])


def _common_seeds(tags: dict, select_seeds: set[int]) -> set[int]:
  """The selection seeds that every setting of a method ran."""
  return set.intersection(*({r["seed"] for r in rs} for rs in tags.values())) & select_seeds


def _pick(tags: dict, select_seeds: set[int]) -> str:
  """The setting of best mean validation accuracy over the seeds all settings ran."""
  common = _common_seeds(tags, select_seeds)
  return max(tags, key=lambda t: np.mean([_mean_val(r) for r in tags[t] if r["seed"] in common]))


def select_settings(runs: list[dict], select_seeds: set[int]) -> dict[tuple, str]:
  """(dataset, split, backbone, base method) -> the selected grid tag (see :func:`_pick`)."""
  return {
    (*cell, m): _pick(tags, select_seeds)
    for cell, methods in _cells(runs).items()
    for m, tags in methods.items()
  }


def _chosen(methods: dict, seeds: set[int]) -> dict[str, list[dict]]:
  """Base method -> the runs of its selected setting."""
  return {m: tags[_pick(tags, seeds)] for m, tags in methods.items()}


OVERVIEW = (("dml", "single"), ("freekd", "single"), ("freekd", "dml"), ("teacher_kd", "single"))


def overview_table(runs: list[dict], select_seeds: int = 5) -> str:
  """One row per (dataset, split, backbone): the single GNN's test accuracy and the paired Δ
  of DML, FreeKD and teacher KD at their selected settings (FreeKD also against DML); a last
  row averages each column's per-cell mean Δ over the cells (t interval over cells)."""
  seeds = set(range(select_seeds))
  rows, per_cell = [], {pair: [] for pair in OVERVIEW}
  for cell, methods in _sorted_cells(runs):
    chosen = _chosen(methods, seeds)
    single = chosen.get("single", [])
    row = [*cell, stats.fmt_pm([_mean_test(r) for r in single]) if single else "–"]
    for a, b in OVERVIEW:
      d = None
      if a in chosen and b in chosen:
        d = stats.paired_by_key(_by_seed(chosen[a]), _by_seed(chosen[b]))
      row.append(_fmt_delta(d))
      if d is not None and d.n >= 1:
        per_cell[(a, b)].append(d.mean)
    rows.append(row)
  mean_row = ["mean over cells", "", "", ""]
  for pair in OVERVIEW:
    means = per_cell[pair]
    mean_row.append(_fmt_delta(stats.paired_delta(means, [0.0] * len(means))) if means else "–")
  header = ["dataset", "split", "backbone", "single %"]
  header += [f"{a} − {b}".replace("teacher_kd", "teacher KD") for a, b in OVERVIEW]
  return results.markdown_table(header, [*rows, mean_row])


def selected_tables(runs: list[dict], select_seeds: int = 5) -> str:
  """The selected-settings table, the whole grid, and the direction-policy diagnosis."""
  seeds = set(range(select_seeds))
  out = []
  for (ds, split, bb), methods in _sorted_cells(runs):
    picked = {m: _pick(tags, seeds) for m, tags in methods.items()}
    common = {m: _common_seeds(tags, seeds) for m, tags in methods.items()}
    chosen = _chosen(methods, seeds)
    single, dml = chosen.get("single", []), chosen.get("dml", [])
    rows, grid, diag = [], [], []
    for m in sorted(chosen, key=lambda m: ORDER.index(m) if m in ORDER else 99):
      rs = chosen[m]
      acc = np.array([_mean_test(r) for r in rs])
      teacher = ""
      if m == "teacher_kd":
        t = [r["metrics"]["teacher_test_acc"] * 100 for r in rs]
        teacher = f" (teacher {rs[0]['metrics']['teacher_layers']} layers: {stats.fmt_pm(t)})"
      # a setting transferred from another cell, unless this cell also ran a grid of its own
      source = rs[0]["settings"].get("selected_from") if len(methods[m]) == 1 else None
      rows.append(
        [
          m + teacher,
          (picked[m] or "–") + (f" (from {source.replace(':', ' ')})" if source else ""),
          str(len(rs)),
          stats.fmt_pm([_mean_val(r) for r in rs if r["seed"] in common[m]]),
          stats.fmt_pm(acc),
          _delta(rs, single) if m != "single" else "–",
          _delta(rs, dml) if m not in ("dml", "single") else "–",
        ]
      )
      for t, trs in methods[m].items():
        sel = [r for r in trs if r["seed"] in common[m]]
        grid.append(
          [m, t or "–", str(len(sel)), stats.fmt_pm([_mean_val(r) for r in sel]),
           stats.fmt_pm([_mean_test(r) for r in sel]), "yes" if t == picked[m] else ""]
        )  # fmt: skip
      for t, trs in methods[m].items():
        d = [r["metrics"].get("diagnostics") for r in trs]
        if d and all(d) and m not in ("dml", "dml3"):
          means = {k: [x["mean"][k] for x in d] for k in DIAG}
          cells = [stats.fmt_pm(means[k], digits=3) for k in DIAG]
          if trs[0]["settings"]["config"]["direction"] != "learned":  # no policy acts
            cells[-2:] = ["–", "–"]
          diag.append([m, t, str(len(d)), *cells])
    out += [
      f"#### {ds}, {bb}, {split} split",
      "",
      "Selected settings (best mean validation accuracy over the selection seeds, those of "
      f'0–{select_seeds - 1} that every setting of the method ran; "from public gcn": the '
      "setting selected in that cell of the same dataset, this cell ran no grid of its own); "
      "test accuracy % (mean "
      "over the method's networks, mean ± std over seeds) and paired Δ in points (mean [95% t "
      "interval]):",
      "",
      results.markdown_table(
        [
          "method",
          "selected",
          "seeds",
          "val % (selection seeds)",
          "test %",
          "Δ vs single",
          "Δ vs DML",
        ],
        rows,
      ),  # fmt: skip
      "",
      "The whole grid (selection seeds only):",
      "",
      results.markdown_table(["method", "setting", "seeds", "val %", "test %", "selected"], grid),
      "",
      "Direction policy after warm-up (mean over epochs, then mean ± std over seeds): share of "
      "the most used sender, fraction of contested training / validation nodes (one network "
      "right, the other wrong) whose sender is the right one (0.5 = chance), mean reward, "
      "policy entropy (nats; ln 2 = 0.693 is uniform; – where no direction policy acts):",
      "",
      results.markdown_table(["method", "setting", "seeds", *DIAG], diag),
      "",
      *_per_epoch(chosen.get("freekd", []), "freekd"),
    ]
  return "\n".join(out)


def _finite_mean(values: list[float]) -> str:
  finite = [v for v in values if np.isfinite(v)]
  return f"{np.mean(finite):.3f}" if finite else "–"


def _per_epoch(runs: list[dict], name: str) -> list[str]:
  """The selected FreeKD policy every 10 epochs after warm-up, averaged over seeds."""
  diags = [r["metrics"]["diagnostics"] for r in runs if r["metrics"].get("diagnostics")]
  if not diags:
    return []
  epochs = sorted(set().union(*(d["epoch"] for d in diags)))
  rows = []
  for e in epochs:
    vals = {k: [d[k][d["epoch"].index(e)] for d in diags if e in d["epoch"]] for k in DIAG}
    n = len(vals[DIAG[0]])
    rows.append([str(e), str(n)] + [_finite_mean(vals[k]) for k in DIAG])
  return [
    f"Per epoch, `{name}` at its selected setting (mean over the seeds still running):",
    "",
    results.markdown_table(["epoch", "seeds", *DIAG], rows),
    "",
  ]

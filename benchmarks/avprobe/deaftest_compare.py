"""The reference models on the DeafTest-style probe, and the answer parser on typical answers.

Runs every reference model on the generated items (all five tasks), scores them under both
parser modes, and appends one run per (model, mode) to
``benchmarks/results/avprobe/deaftest_runs.jsonl``; runs both parser modes on a list of typical
model answers; draws the noisy oracle's psychometric curves; renders ``deaftest.md`` from the
runs file (``--report-only`` renders without running).

  PYTHONPATH=. python benchmarks/avprobe/deaftest_compare.py            # ~3 min on 2 CPU cores
  PYTHONPATH=. python benchmarks/avprobe/deaftest_compare.py --report-only
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import avprobe
from fira_jax.lab.machine import describe_machine
from fira_jax.lab.results import command_line, make_record, markdown_table, read_runs, write_runs

OUT = pathlib.Path(__file__).resolve().parents[1] / "results" / "avprobe"
RUNS = OUT / "deaftest_runs.jsonl"
PLOT = OUT / "noisy_oracle_psychometric.png"
MODELS = {
  "oracle": lambda seed: avprobe.oracle,
  "sentence_oracle": lambda seed: avprobe.sentence_oracle,
  "noisy_oracle(σ=2)": lambda seed: avprobe.noisy_oracle(2.0, seed),
  "constant 'A'": lambda seed: avprobe.constant_model("A"),
  "constant 'the first audio'": lambda seed: avprobe.constant_model("the first audio"),
  "random": lambda seed: avprobe.random_model(seed),
}
AB = list(avprobe.TWO_AFC_OPTIONS)
# Typical answers of chat models to "Which audio is louder? ... A. the first audio B. the second
# audio", with the letter the writer meant (None: no answer given).
ANSWERS = [
  ("B", "B"),
  ("A", "A"),
  ("B.", "B"),
  ("(B)", "B"),
  ("(A)", "A"),
  ("b", "B"),
  ("a", "A"),
  ("The answer is B.", "B"),
  ("The answer is A.", "A"),
  ("Answer: B", "B"),
  ("Answer: A", "A"),
  ("Option B: the second audio", "B"),
  ("B. the second audio", "B"),
  ("A. the first audio", "A"),
  ("the second audio", "B"),
  ("the first audio", "A"),
  ("The second audio is louder.", "B"),
  ("I think the second audio is louder.", "B"),
  ("The first audio is louder than the second audio.", "A"),
  ("The second audio [audio2] is louder.", "B"),
  ("Audio B", "B"),
  ("Audio 2 is louder.", "B"),
  ("The second one.", "B"),
  ("**B**", "B"),
  ("I cannot hear audio.", None),
  ("As a text-based AI, I cannot listen to audio files.", None),
  ("Both", None),
  ("Both audios sound equally loud.", None),
  ("Neither; they are the same.", None),
  ("I'm not sure.", None),
]


def run_models(n: int, sr: int, seed: int, n_boot: int) -> list[dict]:
  settings = {"tasks": list(avprobe.TASKS), "n_per_cell": n, "sr": sr, "duration": 1.0}
  items = avprobe.make_items(avprobe.TASKS, n_per_cell=n, sr=sr, seed=seed)
  records = []
  for name, factory in MODELS.items():
    responses = avprobe.run_model(factory(seed), items, progress=True, desc=name)
    for mode in avprobe.MODES:
      report = avprobe.score(items, responses, mode=mode, n_boot=n_boot, seed=seed)
      records.append(
        make_record(
          f"{name} [{mode}]",
          seed,
          {**settings, "model": name, "mode": mode},
          report,
          command=command_line(prog="benchmarks/avprobe/deaftest_compare.py"),
          kind="model",
        )
      )
    if name.startswith("noisy"):
      plot_psychometric(items, responses, sigma=2.0, n_boot=n_boot, seed=seed)
  return records


def run_parser(seed: int) -> list[dict]:
  records = []
  responses = [r for r, _ in ANSWERS]
  meant = [m for _, m in ANSWERS]
  for mode in avprobe.MODES:
    batch = avprobe.parse_answers(responses, [AB] * len(responses), mode=mode)
    agree = [got == want for got, want in zip(batch.letters, meant, strict=True)]
    answered = [a for a, m in zip(agree, meant, strict=True) if m is not None]
    metrics = {
      "fail_rate": batch.fail_rate,
      "agreement": float(np.mean(answered)),
      "letters": batch.letters,
    }
    settings = {"responses": responses, "meant": meant, "mode": mode}
    records.append(make_record(f"parser [{mode}]", seed, settings, metrics, kind="parser"))
  return records


def plot_psychometric(items, responses, *, sigma: float, n_boot: int, seed: int) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import scipy.special
  import scipy.stats

  report = avprobe.score(items, responses, n_boot=n_boot, seed=seed)
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
  for ax, (task, unit) in zip(axes, [("loudness", "dB"), ("pitch", "semitones")], strict=True):
    t = report["tasks"][task]
    cells = sorted(t["cells"].items(), key=lambda kv: float(kv[0]))
    d = np.array([float(k) for k, _ in cells])
    acc = np.array([c["acc"] for _, c in cells])
    ci = np.array([c["ci"] for _, c in cells])
    err = np.stack([acc - ci[:, 0], ci[:, 1] - acc])
    ax.errorbar(d, acc, yerr=err, fmt="o", color="k", capsize=3, label="noisy oracle (95% CI)")
    grid = np.geomspace(d.min() * 0.8, d.max() * 1.2, 200)
    thr = t["threshold"]
    if thr["params"] is not None:
      a, b, lam = thr["params"]
      fit = 0.5 + (0.5 - lam) * scipy.special.expit((np.log(grid) - a) / b)
      ax.plot(grid, fit, color="C0", label=f"logistic fit, Δ75 = {thr['value']:.2f}")
      ax.axvline(thr["value"], color="C0", ls=":")
    ax.plot(
      grid,
      scipy.stats.norm.cdf(grid / (sigma * np.sqrt(2))),
      color="C1",
      ls="--",
      label=f"theory Φ(Δ/σ√2), Δ75 = {0.6745 * sigma * np.sqrt(2):.2f}",
    )
    ax.axhline(0.75, color="grey", lw=0.5)
    ax.set(xscale="log", xlabel=f"Δ ({unit})", ylabel="P(correct)", title=task, ylim=(0.3, 1.02))
    ax.legend(fontsize=7, loc="lower right")
  fig.suptitle(f"Ideal observer with σ = {sigma:g} internal noise", fontsize=10)
  fig.tight_layout()
  fig.savefig(PLOT, dpi=110)
  plt.close(fig)


def _cell(t: dict | None) -> str:
  if t is None:
    return "-"
  thr = t.get("threshold")
  out = f"{t['acc']:.3f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]"
  if thr is not None:
    out += f"; Δ75 {avprobe.Threshold(**{**thr, 'params': None}).fmt()}"
  return out


def render(runs: list[dict]) -> str:
  models = [r for r in runs if r.get("kind") == "model"]
  parser = [r for r in runs if r.get("kind") == "parser"]
  s = models[0]["settings"]
  lines = [
    "# DeafTest-style probe: reference models and the answer parser",
    "",
    f"Generated items: {s['n_per_cell']} per (task, Δ) cell, sr {s['sr']} Hz, tones of "
    f"{s['duration']} s, seed {models[0]['seed']}; grids: "
    + "; ".join(f"{k} {list(v)}" for k, v in avprobe.GRIDS.items())
    + ". Machine: "
    + models[0]["machine"]
    + ". Rendered from `deaftest_runs.jsonl` by `benchmarks/avprobe/deaftest_compare.py`.",
    "",
    "## Accuracy per task (Wilson 95% CI; Δ75 = 75% threshold of a logistic fit in ln Δ, "
    "95% bootstrap CI)",
    "",
    "Chance is 0.5 for the two-clip tasks and 0.25 for counting. `< x`: every cell, even the "
    "smallest Δ, is at 75% or above; `none`: the largest Δ is below 75%.",
    "",
  ]
  header = ["model [parser]", *avprobe.TASKS, "parse fail", "p(loudness > chance)"]
  rows = []
  for r in models:
    t = r["metrics"]["tasks"]
    rows.append(
      [
        r["method"],
        *(_cell(t.get(task)) for task in avprobe.TASKS),
        f"{r['metrics']['overall']['parse_fail_rate']:.2f}",
        f"{t['loudness']['p_value']:.2g}",
      ]
    )
  lines += [markdown_table(header, rows), ""]
  lines += [
    "## The parser on typical model answers",
    "",
    "`avodyssey` reproduces the official evaluation (a response with no readable letter "
    "scores as A); `strict` returns nothing for it. Parse fail = fraction of answers with no "
    "readable letter; agreement = fraction of the answers that name an option whose letter "
    "is the one meant (over the answers that name one).",
    "",
  ]
  lines += [
    markdown_table(
      ["parser", "answers", "parse fail", "agreement with the meant letter"],
      [
        [
          r["method"],
          len(r["settings"]["responses"]),
          f"{r['metrics']['fail_rate']:.2f}",
          f"{r['metrics']['agreement']:.2f}",
        ]
        for r in parser
      ],
    ),
    "",
  ]
  by_mode = {r["settings"]["mode"]: r for r in parser}
  resp = by_mode["avodyssey"]["settings"]["responses"]
  meant = by_mode["avodyssey"]["settings"]["meant"]
  rows = [
    [
      f"`{x}`",
      m or "-",
      by_mode["avodyssey"]["metrics"]["letters"][i],
      by_mode["strict"]["metrics"]["letters"][i] or "None",
    ]
    for i, (x, m) in enumerate(zip(resp, meant, strict=True))
  ]
  lines += [markdown_table(["answer", "meant", "avodyssey", "strict"], rows), ""]
  lines += [f"![noisy oracle psychometric curves]({PLOT.name})", ""]
  return "\n".join(lines)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--n", type=int, default=20, help="items per cell")
  ap.add_argument("--sr", type=int, default=44100)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--n-boot", type=int, default=1000)
  ap.add_argument("--report-only", action="store_true")
  args = ap.parse_args()
  if not args.report_only:
    print(describe_machine())
    write_runs(RUNS, run_models(args.n, args.sr, args.seed, args.n_boot) + run_parser(args.seed))
  (OUT / "deaftest.md").write_text(render(read_runs(RUNS)), encoding="utf-8")
  print((OUT / "deaftest.md").read_text())
  return 0


if __name__ == "__main__":
  raise SystemExit(main())

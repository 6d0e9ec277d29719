"""PlanKD on hw-plan: a teacher planner, students alone, with output KD, FitNet, PlanKD and its
ablations, driven in closed loop on held-out highway-env seeds.

Writes ``benchmarks/results/distill/plankd.md`` and its runs file ``plankd_runs.jsonl`` (one
record per method, student size and training seed; resumable: finished runs are skipped). The
same command is ``fira-jax distill plankd compare``; the options are the same. The simulator is
the extra ``[sim]``.

The committed table is the medium CPU setting (the small setting's data and teacher, all three
student sizes × three training seeds, 20 test episodes, the methods in passes of decreasing
priority under one time budget), run on 2 shared CPU cores:
  PYTHONPATH=. nice -n 10 python benchmarks/distill/plankd_compare.py --cpu-medium \\
    --budget-s 5400
The first small setting (S-L only, two seeds, 6 test episodes) is kept beside it
(``plankd_cpu_small.md``):
  nice -n 10 env PYTHONPATH=. python benchmarks/distill/plankd_compare.py --cpu-small
With ``--report-only`` a preset only re-renders its report from the runs file (and measures the
latencies again).
The full grid of the issue (400 training episodes, 10 epochs, 3 sizes × 6 methods × 3 seeds,
50 test episodes; hours on a CPU, about 1 h of simulator time for the closed loop):
  PYTHONPATH=. python benchmarks/distill/plankd_compare.py
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys
import time

from distill.plankd import GridConfig, cli
from fira_jax.lab.config_flags import from_args

RESULTS = pathlib.Path("benchmarks/results/distill")
# Collected expert data and the trained teacher (kept between resumed runs; not committed).
WORK = pathlib.Path.home() / ".cache" / "fira-jax" / "plankd"
FULL = "PYTHONPATH=. python benchmarks/distill/plankd_compare.py"
DATA = "--train-episodes 8 --val-episodes 2 --epochs 3".split()
# Presets: (report, flags, passes of methods, setting). The passes run in order so that the
# pairs with the student alone finish first; a --budget-s budget is shared by all passes.
PRESETS = {
  "--cpu-small": (
    "plankd_cpu_small.md",
    DATA + "--test-episodes 6 --sizes S-L --seeds 0 1".split(),
    [["alone", "plankd", "plankd_sg"], ["output_kd", "feature_kd", "ib_only", "attention_only"]],
    "8 training episodes (1.6k frames), 3 epochs, S-L only, training seeds 0-1, 2 validation "
    "and 6 test episodes, on 2 CPU cores shared with other jobs (load ~15)",
  ),
  "--cpu-medium": (
    "plankd.md",
    DATA + "--test-episodes 20 --sizes S-L S-M S-S --seeds 0 1 2".split(),
    [
      ["alone", "plankd"],
      ["plankd_fix"],
      ["output_kd"],
      ["ib_only", "attention_only"],
      ["feature_kd"],
    ],
    "8 training episodes (1.6k frames), 3 epochs, all three student sizes, training seeds 0-2, "
    "2 validation and 20 test episodes (seeds 10000-10019), the small setting's data and "
    "teacher, on 2 CPU cores shared with 4 other jobs",
  ),
}
NOTES = """\
Closed-loop driving on held-out highway-env seeds 10000+ (never trained on); DS = 100 · mean
RC · IP with CARLA's penalties (0.60 per vehicle collision, 0.65 per off-road); L1 is the
open-loop waypoint error on validation seeds 400+; ms/step is the median jitted batch-1 forward
on this machine's CPU. Mean ± std (ddof 0) over training seeds; paired differences are over test
episodes (each episode's score averaged over the training seeds both methods have), Student-t
95% interval.

The paper's only checkable number (README, InterFuser in CARLA, demo data): the 26.3M student
scores DS **36.52 with PlanKD vs 25.54 without**; a third-party rerun got 35.12 vs 34.61. Our S-L
student is the same ratio (0.51) of its teacher, S-M and S-S the ratios of the 11.7M and 3.8M
students.

Setting: {setting}. Command: `{command}`. Full grid: `{full}`.
"""

# What each preset's runs showed (kept under the settings when the report is re-rendered).
EXTRA = {
  "--cpu-small": """
**Read with care.** This is the smallest setting that finished on a shared CPU: 8 expert episodes,
3 epochs and 6 test episodes are far from the spec's 400 / 10 / 50, so every planner is weak and
one episode moves DS by ~17 points. ms/step was measured while the 2 cores ran ~15-30 other
processes, so only its ratios between models mean something.

**What happened to PlanKD.** As written officially, L_w = Σ_j a_j·L1_j also trains the attention,
and in `plankd_cpu_small_metrics.jsonl` the attention's Σ_j a_j log a_j is ≈ 0 from step 20 on:
all weight on one waypoint, so the other waypoints get almost no waypoint loss, the open-loop L1
grows to 15-19 m (vs ~1 m for the students without the attention) and the controller follows
garbage far waypoints. Detaching the attention inside L_w (`plankd_sg`, not official) did not
prevent it on one of the two training seeds and did not help the driving score: the ranking loss
alone also concentrates the attention: its margin 0.1 between every pair of waypoints with
different safety scores cannot be met by weights summing to 1 once more than 5 waypoints have
distinct scores (that needs 0.1·n(n−1)/2 ≤ 1), so it keeps pushing the mass onto the top-scored
waypoint, and its value stays above the 0.1 floor. PlanKD's waypoint term as released has no plain
L1 on all waypoints to fall back on; in this short training that is what decides the closed-loop
score.
""",
  "--cpu-medium": """
**How it was run.** On 2 CPU cores shared with 4 other jobs (load average 15-25 throughout), as
parallel workers writing separate runs files that were then merged (the preset command above
runs the same cells one after another): `fira-jax distill plankd compare --work
~/.cache/fira-jax/plankd --train-episodes 8 --val-episodes 2 --test-episodes 20 --epochs 3
--sizes S-L S-M S-S --seeds 0 1 2 --methods alone plankd` (21:56-23:00 UTC, 18 runs), the same
with `--methods plankd_fix` then `--methods output_kd --budget-s ...` (22:07-23:27), and with
`--seeds 0 --methods ib_only attention_only --budget-s ...` (23:03-23:27). A run took 3-12 min
(training 75 steps, then 20 closed-loop episodes on the CPU simulator); the grid was cut at
23:27 UTC and completed the next session by the preset command above (01:04-01:46 UTC, the 29
output-KD, ablation and FitNet runs). The data and teacher are the
small setting's (8 training episodes, a 3-epoch teacher): every planner is undertrained, the
teacher (DS 27.7 on these 20 episodes) drives no better than the students alone, so there is
little for any distillation to transfer, and the training seed moves a student's DS by ±10-25.

**Official PlanKD collapses at every size.** With 20 episodes and 3 seeds per size, PlanKD as
released scores DS 13.9 / 3.1 / 3.7 (S-L / S-M / S-S) against 44.4 / 33.0 / 39.6 for the
student alone: −30 to −36 points, with 95% intervals far from 0 over test episodes (the
by-seed intervals are wide with 3 seeds, but every one of the 9 PlanKD runs is below its
seed's student alone). Its open-loop L1 is 15-17 m (≈1 m without the attention): in the metrics
log Σ_j a_j log a_j is −0.07 to −0.31 at the end of training (uniform attention: −2.30), i.e.
the attention puts ≥ 90% of its weight on one waypoint, so L_w = Σ_j a_j·L1_j leaves the other
waypoints untrained, and the controller follows them off the road (IP 0.65 = one off-road, few
collisions). This is what the small setting showed, now on all three sizes.

**The opt-in fix, `plankd_fix`** (not official): the same objective with the waypoint term
0.5·L_w + 0.5·mean_j L1_j and the ranking margin capped at 2/(K(K−1)) = 0.022, the largest one
a distribution over 10 waypoints can satisfy (`distill.plankd.feasible_margin`). It removes
the damage: L1 0.96-1.04 m, DS 48.8 / 31.2 / 50.5, +35 / +28 / +47 over official PlanKD
(intervals over episodes well above 0) and +4.4 / −1.8 / +10.8 over the student alone, which is
within the seed noise (by training seed the intervals span ±50-100; over test episodes only S-S
excludes 0, at [+0.4, +21.2]). What it does **not** do is make the attention meaningful: its
Σ a log a is still −0.05 to −0.29 at the end, and its ranking loss stays at 0.09-0.11 against a
floor of δ/K = 0.002, which is what one expects when the mass sits on a waypoint of *low*
safety score (the nearest, easiest one): the gradient of the attentive term 0.2·Σ_j a_j L1_j
with L1_j differences of metres outweighs 0.1·L_rank, whose pairs differ by at most 1 in
attention. The feasible margin alone cannot counter that; detaching the attention inside L_w
(`plankd_sg`, tried in the small setting) removes that pull but, with the official margin,
still collapsed on one of two seeds. The combination (sg + feasible margin, or an entropy
floor) is untested here.

**Output KD, FitNet and the ablations** (3 seeds each, completed in a second pass at load
~11, 29 runs of 45-90 s): none of the baselines moves the driving score the same way at every
size. Over test episodes, output KD is −2.2 [−13.9, +9.6] / +13.6 [+0.2, +27.0] / −17.3
[−30.5, −4.1] (S-L / S-M / S-S) against the student alone, and FitNet feature KD −18.0
[−27.5, −8.4] / +20.1 [+9.3, +30.9] / −3.0 [−13.5, +7.5]; opposite signs between sizes, with
the teacher no better than the students, are what seed-level noise around no effect looks
like. The two PlanKD components split cleanly. IB only (the variational feature term without
the attention) is −5.9 / +10.5 / +11.1, every interval covering 0: harmless, not shown to
help. Attention only collapses exactly as full PlanKD does (−41.3 / −24.7 / −33.8, open-loop
L1 16-22 m), so the released safety-aware attentive waypoint term alone accounts for PlanKD's
loss here. Latency: the back-to-back ratios below moved between renders (S-L 0.95× the teacher
in the small setting, 0.42× and 0.39× in this one) because the cores were shared; S-L at about
0.4× is in line with the paper's "about half the teacher's time", but only S-S's large saving is
robust to the load.

**Against the paper.** The paper's README claim (26.3M student: 36.52 with PlanKD vs 25.54
without, on demo data in CARLA) is not reproduced by the released objective on this task: here
PlanKD as released hurts every student size, and the repaired variant is level with the
student alone. The scale (8 expert episodes, 3 epochs, a weak teacher, 20 test episodes,
3 seeds) is far from the spec's full grid, so this says that the released waypoint term is
fragile, not what PlanKD's ideas are worth with a strong teacher and enough data.
""",
}


def latency_note(repeats: int = 200) -> str:
  """Batch-1 CPU latency of fresh planners of every size, measured back to back."""
  from flax import nnx

  from distill.plankd import PLANNERS, Planner, SceneConfig, inference_ms
  from fira_jax.lab.machine import describe_machine

  scene = SceneConfig()
  ms = {
    k: inference_ms(Planner(c, rngs=nnx.Rngs(0)), scene, repeats=repeats)
    for k, c in PLANNERS.items()
  }
  parts = ", ".join(f"{k} {v:.2f} ms ({v / ms['teacher']:.2f}× the teacher)" for k, v in ms.items())
  return (
    f"**Latency, measured back to back** (`distill.plankd.inference_ms`, fresh weights of each "
    f"size, median of {repeats} jitted batch-1 forwards; {describe_machine()}; load still "
    f"shared): {parts}. The ms/step column was measured during each run under changing load, "
    "so only these back-to-back ratios compare models."
  )


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  preset = next((p for p in PRESETS if p in argv), None)
  report_only = "--report-only" in argv
  argv = [a for a in argv if a not in PRESETS and a != "--report-only"]
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_arguments(parser)
  command = f"{FULL} {shlex.join(argv + ([preset] if preset else []))}".strip()
  report, flags, passes, setting = PRESETS.get(
    preset, ("plankd.md", [], [None], "see the runs file")
  )
  if "--methods" in argv:
    passes = [None]
  base = ["compare", "--out", str(RESULTS / report), "--work", str(WORK), *flags]
  probe = parser.parse_args(base + argv)
  budget, start = probe.budget_s, time.monotonic()
  methods_all = [m for p in passes for m in (p or [])] or None
  expected = None
  if methods_all:
    sizes, seeds = tuple(probe.sizes), tuple(probe.seeds)
    grid = from_args(GridConfig, probe, sizes=sizes, seeds=seeds, methods=tuple(methods_all))
    expected = grid.cells()
  notes = NOTES.format(setting=setting, command=command, full=FULL) + EXTRA.get(preset, "")
  for methods in [] if report_only else passes:
    args = parser.parse_args(base + (["--methods", *methods] if methods else []) + argv)
    args.notes, args.expected = notes, expected
    if budget is not None:
      args.budget_s = budget - (time.monotonic() - start)
      if args.budget_s <= 0:
        break
    rc = cli.run(args)
    if rc:
      return rc
  if preset:
    notes = notes + "\n" + latency_note()
    cli.write_compare_report(RESULTS / report, notes=notes, expected=expected or ())
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""PlanKD on hw-plan: a teacher planner, students alone, with output KD, FitNet, PlanKD and its
ablations, driven in closed loop on held-out highway-env seeds.

Writes ``benchmarks/results/distill/plankd.md`` and its runs file ``plankd_runs.jsonl`` (one
record per method, student size and training seed; resumable: finished runs are skipped). The
same command is ``fira-jax distill plankd compare``; the options are the same. The simulator is
the extra ``[sim]``.

The committed table is the small CPU setting (one student size, two training seeds, few
episodes), run on 2 shared CPU cores:
  nice -n 10 env PYTHONPATH=. python benchmarks/distill/plankd_compare.py --cpu-small
The full grid of the issue (400 training episodes, 10 epochs, 3 sizes × 6 methods × 3 seeds,
50 test episodes; hours on a CPU, about 1 h of simulator time for the closed loop):
  PYTHONPATH=. python benchmarks/distill/plankd_compare.py
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys

from distill.plankd import cli

RESULTS = pathlib.Path("benchmarks/results/distill")
# Collected expert data and the trained teacher (kept between resumed runs; not committed).
WORK = pathlib.Path.home() / ".cache" / "fira-jax" / "plankd"
FULL = "PYTHONPATH=. python benchmarks/distill/plankd_compare.py"
# The committed CPU setting: the methods in two passes so that the PlanKD − alone pairs finish
# first.
CPU_SMALL = (
  "--train-episodes 8 --val-episodes 2 --test-episodes 6 --epochs 3 --sizes S-L --seeds 0 1"
).split()
PASSES = [
  ["alone", "plankd", "plankd_sg"],
  ["output_kd", "feature_kd", "ib_only", "attention_only"],
]
NOTES = """\
Closed-loop driving on held-out highway-env seeds 10000+ (never trained on); DS = 100 · mean
RC · IP with CARLA's penalties (0.60 per vehicle collision, 0.65 per off-road); L1 is the
open-loop waypoint error on validation seeds 400+; ms/step is the median jitted batch-1 forward
on this machine's CPU. Mean ± std (ddof 0) over training seeds; paired differences are over test
episodes (each episode's score averaged over training seeds), Student-t 95% interval.

The paper's only checkable number (README, InterFuser in CARLA, demo data): the 26.3M student
scores DS **36.52 with PlanKD vs 25.54 without**; a third-party rerun got 35.12 vs 34.61. Our S-L
student is the same ratio (0.51) of its teacher.

Setting: {setting}. Command: `{command}`. Full grid: `{full}`.
"""


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  small = "--cpu-small" in argv
  argv = [a for a in argv if a != "--cpu-small"]
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  cli.add_arguments(parser)
  command = f"{FULL} {shlex.join(argv + (['--cpu-small'] if small else []))}".strip()
  setting = (
    "8 training episodes (1.6k frames), 3 epochs, S-L only, training seeds 0-1, 2 validation "
    "and 6 test episodes, on 2 CPU cores shared with other jobs (load ~15)"
    if small
    else "see the runs file"
  )
  base = ["compare", "--out", str(RESULTS / "plankd.md"), "--work", str(WORK)] + (
    CPU_SMALL if small else []
  )
  passes = PASSES if small and "--methods" not in argv else [None]
  for methods in passes:
    extra = ["--methods", *methods] if methods else []
    args = parser.parse_args(base + extra + argv)
    args.notes = NOTES.format(setting=setting, command=command, full=FULL)
    rc = cli.run(args)
    if rc:
      return rc
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""The official PyTorch side of ``optimizer_step.py`` (runs in its own virtual environment).

Reads a JSON job on stdin, prints a JSON result on stdout. Shapes arrive in Flax ``(in, out)``
layout and are built as torch ``(out, in)`` weights, as ``nn.Linear`` stores them.
"""

import json
import statistics
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")


def build(job):
  torch.manual_seed(0)
  projected, regular = [], []
  for shape, is_projected in job["leaves"]:
    shape = tuple(reversed(shape)) if len(shape) == 2 else tuple(shape)
    p = torch.nn.Parameter(torch.randn(*shape) * 0.02)
    p.grad = torch.randn(*shape) * 1e-3
    (projected if is_projected else regular).append(p)
  return projected, regular


def make(name, job, gap):
  projected, regular = build(job)
  if name == "torch_adamw":
    return torch.optim.AdamW(
      projected + regular, lr=1e-3, eps=1e-6, weight_decay=0.0, foreach=True
    ), projected + regular
  group = {"params": projected, "rank": job["rank"], "update_proj_gap": gap, "proj_type": "std"}
  if name == "official_fira":
    from fira import FiraAdamW

    group["alpha"] = job["alpha"]
    return FiraAdamW([{"params": regular}, group], lr=1e-2), projected + regular
  from galore_torch import GaLoreAdamW

  group["scale"] = job["alpha"]
  return GaLoreAdamW([{"params": regular}, group], lr=1e-2), projected + regular


def state_bytes(opt):
  total = 0
  for st in opt.state.values():
    for v in st.values():
      if torch.is_tensor(v):
        total += v.numel() * v.element_size()
      elif hasattr(v, "ortho_matrix") and v.ortho_matrix is not None:
        m = v.ortho_matrix
        total += sum(t.numel() * t.element_size() for t in (m if isinstance(m, list) else [m]))
  return total


def timed(opt):
  start = time.perf_counter()
  opt.step()
  return time.perf_counter() - start


def main():
  job = json.load(sys.stdin)
  torch.set_num_threads(job["threads"])
  out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
  for name in job["optimizers"]:
    opt, _ = make(name, job, job["gap"])
    timed(opt)  # step 0: state creation and the first SVD
    steady = [timed(opt) for _ in range(job["repeats"])]
    res = {"steady_s": steady, "state_bytes": state_bytes(opt)}
    if name != "torch_adamw":
      every, _ = make(name, job, 1)  # a refresh (SVD of every matrix) at every step
      timed(every)
      res["refresh_step_s"] = [timed(every) for _ in range(max(3, job["repeats"] // 5))]
    res["median_steady_s"] = statistics.median(steady)
    out["results"][name] = res
  json.dump(out, sys.stdout)


if __name__ == "__main__":
  main()

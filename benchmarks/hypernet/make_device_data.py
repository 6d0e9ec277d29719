"""Packs the data of the PudNet GPU grid into one small folder (<= 40 MiB) to carry to a device.

The folder has exactly the layout the loaders read from ``--data-dir``:

- ``mnist/mnist.npz``: MNIST as is (60,000 / 10,000 images, 11 MB);
- ``cifar10/cifar10_jpeg.npz``: a CIFAR-10 subset in the same JPEG-npz format (the source's
  JPEG bytes, not re-encoded): the first ``--cifar-train-per-class`` training and
  ``--cifar-test-per-class`` test images of each class, in class order;
- ``MANIFEST.json``: what was taken (the grid records it with its results).

scikit-learn's digits ship inside scikit-learn and Colored-MNIST is built from MNIST, so they
need no file. When ``--out`` already holds a complete folder made with the same options (e.g.
carried to a machine without the source data), nothing is done.

  python benchmarks/hypernet/make_device_data.py --out .device_data
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIMIT_BYTES = 40 * 2**20


def _subset(src: pathlib.Path, dst: pathlib.Path, per_class: dict[str, int]) -> dict:
  """Writes the first ``per_class[split]`` images of each class of ``src`` to ``dst``."""
  arrays, counts = {}, {}
  with np.load(src) as f:
    if "classes" in f.files:
      arrays["classes"] = f["classes"]
    for split, n in per_class.items():
      raw, off, lab = f[f"{split}_jpeg"], f[f"{split}_offsets"], f[f"{split}_labels"]
      keep = np.concatenate([np.flatnonzero(lab == c)[:n] for c in np.unique(lab)])
      keep.sort()
      blobs = [raw[off[i] : off[i + 1]] for i in keep]
      sizes = np.array([len(b) for b in blobs], np.int64)
      arrays[f"{split}_jpeg"] = np.concatenate(blobs).astype(np.uint8)
      arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
      arrays[f"{split}_labels"] = lab[keep]
      counts[split] = {str(int(c)): int((lab[keep] == c).sum()) for c in np.unique(lab)}
  dst.parent.mkdir(parents=True, exist_ok=True)
  np.savez(dst, **arrays)
  return counts


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", type=pathlib.Path, required=True, help="the folder to write")
  p.add_argument(
    "--src", type=pathlib.Path, default=ROOT.parent / "shared" / "data",
    help="folder holding mnist/mnist.npz and cifar10/cifar10_jpeg.npz (default ../shared/data)",
  )  # fmt: skip
  p.add_argument("--cifar-train-per-class", type=int, default=2500)
  p.add_argument("--cifar-test-per-class", type=int, default=500)
  args = p.parse_args(argv)
  options = {"cifar_train_per_class": args.cifar_train_per_class,
             "cifar_test_per_class": args.cifar_test_per_class}  # fmt: skip
  manifest_path = args.out / "MANIFEST.json"
  files = [args.out / "mnist" / "mnist.npz", args.out / "cifar10" / "cifar10_jpeg.npz"]
  if manifest_path.is_file() and all(f.is_file() for f in files):
    if json.loads(manifest_path.read_text())["options"] == options:
      print(f"{args.out} is complete (same options): nothing to do")
      return 0
  for f in ("mnist/mnist.npz", "cifar10/cifar10_jpeg.npz"):
    if not (args.src / f).is_file():
      raise SystemExit(f"error: {args.src / f} not found; pass --src DIR holding {f}")
  (args.out / "mnist").mkdir(parents=True, exist_ok=True)
  shutil.copyfile(args.src / "mnist" / "mnist.npz", files[0])
  counts = _subset(
    args.src / "cifar10" / "cifar10_jpeg.npz", files[1],
    {"train": args.cifar_train_per_class, "test": args.cifar_test_per_class},
  )  # fmt: skip
  total = sum(f.stat().st_size for f in files)
  manifest = {
    "options": options,
    "mnist": "mnist/mnist.npz copied as is (60,000 train / 10,000 test)",
    "cifar10": (
      f"cifar10/cifar10_jpeg.npz: the first {args.cifar_train_per_class} train and "
      f"{args.cifar_test_per_class} test images per class of the shared cifar10_jpeg.npz "
      "(source JPEG bytes, class order)"
    ),
    "cifar10_counts": counts,
    "bytes": total,
  }
  manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
  if total > LIMIT_BYTES:
    raise SystemExit(f"error: {args.out} holds {total / 2**20:.1f} MiB > 40 MiB; take fewer images")
  print(f"wrote {args.out}: {total / 2**20:.1f} MiB ({manifest['cifar10']})")
  return 0


if __name__ == "__main__":
  sys.exit(main())

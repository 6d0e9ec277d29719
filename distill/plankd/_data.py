"""hw-plan datasets: expert episodes collected once into one ``.npz`` of compact frame states,
targets derived from them, and batches of states (the raster is drawn inside the jitted step)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import pathlib
from collections.abc import Iterator, Sequence

import numpy as np

from distill.plankd._scene import SceneConfig, aux_labels, waypoint_targets
from distill.plankd._sim import SimConfig, expert_episode, make_env
from fira_jax.lab.metrics import progress_bar

__all__ = ["Dataset", "collect", "load_dataset", "SEEDS"]

# Expert seeds by split; the closed-loop test seeds are never collected.
SEEDS = {"train": range(0, 400), "val": range(400, 450), "test": range(10000, 10050)}


@dataclasses.dataclass
class Dataset:
  """Frames of consecutive expert episodes and their targets.

  Attributes:
    ego: ``(F, 4)`` ``(x, y, heading, speed)``.
    others: ``(F, 30, 7)`` other vehicles.
    distractors: ``(E, D, 3)`` static clutter per episode.
    episode: ``(F,)`` index into ``distractors`` / ``seeds``.
    seeds: ``(E,)`` env seed of each episode.
    waypoints: ``(F, K, 2)`` expert waypoints in the ego frame.
    wp_mask: ``(F, K)`` waypoint validity (the horizon inside the episode).
    labels: ``(F, 7)`` auxiliary labels.
    dropped: seeds whose expert episode crashed (not stored).
  """

  ego: np.ndarray
  others: np.ndarray
  distractors: np.ndarray
  episode: np.ndarray
  seeds: np.ndarray
  waypoints: np.ndarray
  wp_mask: np.ndarray
  labels: np.ndarray
  dropped: np.ndarray

  def __len__(self) -> int:
    return len(self.ego)

  def batch(self, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of frames ``idx`` (what the training step takes)."""
    return {
      "ego": self.ego[idx],
      "others": self.others[idx],
      "distractors": self.distractors[self.episode[idx]],
      "waypoints": self.waypoints[idx],
      "wp_mask": self.wp_mask[idx],
      "labels": self.labels[idx],
    }

  def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[dict[str, np.ndarray]]:
    """One epoch of shuffled full batches (the last partial batch is dropped)."""
    order = rng.permutation(len(self))
    for i in range(len(self) // batch_size):
      yield self.batch(order[i * batch_size : (i + 1) * batch_size])


def _collect_chunk(seeds: list[int], sim: SimConfig, scene: SceneConfig) -> dict:
  """Expert episodes of ``seeds`` in one worker process."""
  env = make_env(sim, scene)
  try:
    return {seed: expert_episode(env, seed, sim, scene) for seed in seeds}
  finally:
    env.close()


def collect(
  seeds: Sequence[int],
  path: str | pathlib.Path,
  *,
  sim: SimConfig | None = None,
  scene: SceneConfig | None = None,
  progress: bool = True,
  workers: int = 1,
) -> dict[str, int]:
  """Runs the expert on ``seeds`` and stores the crash-free episodes' states in ``path``.

  With ``workers > 1`` the simulator runs in that many CPU processes (each with its own env);
  the episodes are stored in seed order either way.

  Returns:
    ``{"episodes": ..., "frames": ..., "dropped": ...}``.
  """
  scene = scene or SceneConfig()
  sim = sim or SimConfig()
  if not len(seeds):
    raise ValueError("collect needs at least one seed")
  if workers < 1:
    raise ValueError(f"workers must be >= 1, got {workers}")
  bar = progress_bar(total=len(seeds), desc="expert episodes", disable=not progress, unit="ep")
  results: dict[int, dict | None] = {}
  if workers == 1:
    env = make_env(sim, scene)
    for seed in seeds:
      results[int(seed)] = expert_episode(env, int(seed), sim, scene)
      bar.update(1)
    env.close()
  else:
    chunks = [list(map(int, seeds[i::workers])) for i in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
      futures = [pool.submit(_collect_chunk, c, sim, scene) for c in chunks if c]
      for f in concurrent.futures.as_completed(futures):
        part = f.result()
        results.update(part)
        bar.update(len(part))
  bar.close()
  kept = [int(s) for s in seeds if results[int(s)] is not None]
  dropped = [int(s) for s in seeds if results[int(s)] is None]
  eps = [results[s] for s in kept]
  if not eps:
    raise ValueError(f"every expert episode crashed (seeds {list(seeds)[:5]}...)")
  arrays = {
    k: np.concatenate([e[k] for e in eps])
    for k in ("ego", "others", "lane", "target_lane", "accel")
  }
  arrays["episode"] = np.concatenate(
    [np.full(len(e["ego"]), i, np.int32) for i, e in enumerate(eps)]
  )
  arrays["distractors"] = np.stack([e["distractors"] for e in eps])
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(
    path, seeds=np.asarray(kept), dropped=np.asarray(dropped, np.int64), lanes=scene.lanes, **arrays
  )
  return {"episodes": len(eps), "frames": len(arrays["ego"]), "dropped": len(dropped)}


def load_dataset(path: str | pathlib.Path, scene: SceneConfig | None = None) -> Dataset:
  """Loads a collected ``.npz`` and derives the waypoint and auxiliary targets."""
  scene = scene or SceneConfig()
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"no dataset at {path} (run `fira-jax distill plankd collect`)")
  z = np.load(path)
  missing = {"ego", "others", "episode", "distractors", "lane", "target_lane", "accel"} - set(
    z.files
  )
  if missing:
    raise ValueError(f"{path} is not a hw-plan dataset (missing {sorted(missing)})")
  if int(z["lanes"]) != scene.lanes:
    raise ValueError(f"{path} has {int(z['lanes'])} lanes, the scene {scene.lanes}")
  ego, episode = z["ego"], z["episode"]
  wp, mask = waypoint_targets(ego, episode, scene)
  labels = aux_labels(ego, z["others"], z["lane"], z["target_lane"], z["accel"], episode, scene)
  return Dataset(
    ego=ego,
    others=z["others"],
    distractors=z["distractors"],
    episode=episode,
    seeds=z["seeds"],
    waypoints=wp,
    wp_mask=mask,
    labels=labels.astype(np.int32),
    dropped=z["dropped"],
  )

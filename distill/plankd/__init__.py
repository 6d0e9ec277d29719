"""PlanKD (Feng et al., CVPR 2024, arXiv:2403.01238): compressing an end-to-end motion planner.

The losses are pure functions of arrays and the training-only modules (the variational
information bottleneck, the waypoint attention) see only feature maps, the BEV and waypoints, so
they work on any planner. The "hw-plan" task (expert data from the ``highway-env`` simulator,
``pip install "fira-jax[sim]"``; only :func:`make_env` and what calls it need it), the
planners, training and closed-loop evaluation are also here, behind
``fira-jax distill plankd collect|train|evaluate|compare``.
"""

from distill.plankd._controller import waypoint_controller
from distill.plankd._data import SEEDS, Dataset, collect, load_dataset
from distill.plankd._evaluate import (
  closed_loop,
  driving_metrics,
  inference_ms,
  open_loop,
  plan_function,
)
from distill.plankd._experiment import GridConfig, load_planner, run_grid, save_planner
from distill.plankd._losses import (
  INVALID_WAYPOINT,
  attention_entropy_term,
  attentive_waypoint_loss,
  bottleneck_l1,
  feasible_margin,
  ib_loss,
  safety_scores,
  vib_features,
  waypoint_ranking_loss,
)
from distill.plankd._modules import VIB, BEVEncoder, VIBDecoder, VIBEncoder, WaypointAttention
from distill.plankd._planner import PLANNERS, Planner, PlannerConfig, num_params
from distill.plankd._scene import (
  AUX_CLASSES,
  AUX_NAMES,
  SceneConfig,
  actors,
  aux_labels,
  measurements,
  rasterize,
  waypoint_targets,
)
from distill.plankd._sim import SimConfig, closed_loop_episode, make_env, simulator_available
from distill.plankd._train import METHODS, TrainConfig, train

__all__ = [
  "AUX_CLASSES",
  "AUX_NAMES",
  "Dataset",
  "GridConfig",
  "INVALID_WAYPOINT",
  "METHODS",
  "PLANNERS",
  "SEEDS",
  "SceneConfig",
  "SimConfig",
  "TrainConfig",
  "actors",
  "aux_labels",
  "closed_loop",
  "closed_loop_episode",
  "collect",
  "driving_metrics",
  "inference_ms",
  "load_dataset",
  "load_planner",
  "make_env",
  "measurements",
  "open_loop",
  "plan_function",
  "rasterize",
  "run_grid",
  "save_planner",
  "simulator_available",
  "train",
  "waypoint_controller",
  "waypoint_targets",
  "VIB",
  "BEVEncoder",
  "Planner",
  "PlannerConfig",
  "VIBDecoder",
  "VIBEncoder",
  "WaypointAttention",
  "attention_entropy_term",
  "attentive_waypoint_loss",
  "bottleneck_l1",
  "feasible_margin",
  "ib_loss",
  "num_params",
  "safety_scores",
  "vib_features",
  "waypoint_ranking_loss",
]

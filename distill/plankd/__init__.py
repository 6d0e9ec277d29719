"""PlanKD (Feng et al., CVPR 2024, arXiv:2403.01238): compressing an end-to-end motion planner.

The losses are pure functions of arrays and the training-only modules (the variational
information bottleneck, the waypoint attention) see only feature maps, the BEV and waypoints, so
they work on any planner. The "hw-plan" task (expert data from the ``highway-env`` simulator,
``pip install "fira-jax[sim]"``), the planners, training and closed-loop evaluation are in the
private modules behind ``fira-jax distill plankd``.
"""

from distill.plankd._losses import (
  INVALID_WAYPOINT,
  attention_entropy_term,
  attentive_waypoint_loss,
  bottleneck_l1,
  ib_loss,
  safety_scores,
  vib_features,
  waypoint_ranking_loss,
)
from distill.plankd._modules import VIB, BEVEncoder, VIBDecoder, VIBEncoder, WaypointAttention
from distill.plankd._planner import PLANNERS, Planner, PlannerConfig, num_params

__all__ = [
  "INVALID_WAYPOINT",
  "PLANNERS",
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
  "ib_loss",
  "num_params",
  "safety_scores",
  "vib_features",
  "waypoint_ranking_loss",
]

"""``fira-jax distill …``: the distillation methods' commands."""

COMMANDS: dict[str, tuple[str, str]] = {
  "kpod": ("distill.kpod.cli", "KPOD vs CoT distillation and ablations, generated data"),
  "plankd": ("distill.plankd.cli", "PlanKD: compress a motion planner, highway-env closed loop"),
}

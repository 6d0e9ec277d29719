"""``fira-jax distill …``: the distillation methods' commands."""

COMMANDS: dict[str, tuple[str, str]] = {
  "kpod": ("distill._kpod_cli", "KPOD vs CoT distillation and ablations, generated data"),
}

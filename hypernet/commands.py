"""``fira-jax hypernet …``: the hypernetwork methods' commands."""

COMMANDS: dict[str, tuple[str, str]] = {
  "pudnet": ("hypernet.cli", "meta-train PudNet and compare its predicted ConvNets with training"),
}

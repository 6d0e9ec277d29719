"""``fira-jax graphs …``: the graph methods' commands."""

COMMANDS: dict[str, tuple[str, str]] = {
  "freekd": ("graphs.freekd.cli", "train FreeKD, FreeKD-Prompt or FreeKD++ GNNs on Planetoid"),
}

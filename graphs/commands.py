"""``fira-jax graphs …``: the graph methods' commands."""

COMMANDS: dict[str, tuple[str, str]] = {
  "adadygnn": (
    "graphs.adadygnn.cli",
    "Ada-DyGNN (learned neighbour updates) and baselines on temporal link prediction",
  ),
  "freekd": ("graphs.freekd.cli", "train FreeKD, FreeKD-Prompt or FreeKD++ GNNs on Planetoid"),
  "otgnet": ("graphs.otgnet.cli", "class-incremental OTGNet and baselines on open temporal graphs"),
}

"""``fira-jax avprobe …``: the audio-perception probe's commands."""

COMMANDS: dict[str, tuple[str, str]] = {
  "run": ("avprobe.cli", "score a model (oracle, constant, random, noisy or module:callable)"),
  "export": ("avprobe.cli_export", "write the probe items as WAVs plus a JSONL manifest"),
}

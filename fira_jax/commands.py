"""``fira-jax fira …``: the optimizer package's commands (``fira-jax train`` stays top-level)."""

COMMANDS: dict[str, tuple[str, str]] = {
  "train": (
    "fira_jax.train.cli",
    "pre-train a LLaMA model with fira, galore, apollo, lora or adamw",
  ),
  "compare": (
    "fira_jax.train.cli_compare",
    "train a small model with adamw, galore and fira on synthetic data; print a table",
  ),
}

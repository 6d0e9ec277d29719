"""fira-jax: Fira, GaLore and LoRA as composable optax transforms, in JAX."""

__version__ = "0.1.0"

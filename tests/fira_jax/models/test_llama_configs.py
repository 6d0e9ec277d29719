"""Parameter counts of the paper's configs, from abstract shapes (nothing allocated)."""

import jax
import pytest
from flax import nnx

from fira_jax.models import CONFIGS, Llama, LlamaConfig, get_config

# Independent closed form per size (T5 vocabulary 32000): 2·V·d + L·(4d² + 3·d·f + 2d) + d.
EXPECTED = {
  "llama_60m": 58_073_600,
  "llama_130m": 134_105_856,
  "llama_350m": 367_969_280,
  "llama_1b": 1_339_082_752,
  "llama_7b": 6_738_415_616,  # the published LLaMA-7B count
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_param_counts_from_eval_shape(name):
  abstract = nnx.eval_shape(lambda: Llama(CONFIGS[name], rngs=nnx.Rngs(0)))
  leaves = jax.tree.leaves(nnx.state(abstract, nnx.Param))
  assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
  assert sum(x.size for x in leaves) == EXPECTED[name]
  assert CONFIGS[name].num_params() == EXPECTED[name]


def test_get_config_overrides_and_unknown_name():
  assert get_config("llama_tiny", vocab_size=300).vocab_size == 300
  with pytest.raises(ValueError, match="unknown model 'llama_9b'"):
    get_config("llama_9b")


@pytest.mark.parametrize(
  "kwargs, match",
  [
    (dict(d_model=30, num_heads=4), "divisible by num_heads"),
    (dict(num_layers=0), "num_layers must be a positive int"),
    (dict(dtype="float16"), "dtype must be one of"),
    (dict(d_model=12, num_heads=4), "must be even"),
  ],
)
def test_bad_config_errors(kwargs, match):
  with pytest.raises(ValueError, match=match):
    LlamaConfig(**kwargs)

"""Answer extraction and exact match."""

import numpy as np
import pytest

from distill import kpod


def test_extract_answer():
  assert kpod.extract_answer("so 3 + 4 = 7 . #### 12") == "12"
  assert kpod.extract_answer("#### 1 2") == "12"
  assert kpod.extract_answer("costs $1,200.50 in total") == "1200.5"
  assert kpod.extract_answer("#### -3.0") == "-3"
  assert kpod.extract_answer("no number here") is None
  assert kpod.extract_answer("#### none") is None


def test_exact_match():
  out = kpod.exact_match(["a #### 7", "b 7 #### 8", "c 5.0", "d"], ["7", "7", "5", "1"])
  np.testing.assert_array_equal(out, [True, False, True, False])
  with pytest.raises(ValueError, match="same length"):
    kpod.exact_match(["1"], [])


def test_format_number():
  assert kpod.format_number("1,000") == "1000"
  assert kpod.format_number(2.50) == "2.5"
  with pytest.raises(ValueError, match="not a number"):
    kpod.format_number("abc")

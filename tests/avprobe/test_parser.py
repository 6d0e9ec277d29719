"""The answer parser on every example of the spec, and its strict mode."""

import pytest

import avprobe

AB = ["the first audio", "the second audio"]


@pytest.mark.parametrize(
  "response, expected, strict",
  [
    ("Both sound equal", "B", "B"),  # the capital B of "Both"
    ("Audio B", "A", None),  # two letter candidates, no brackets: first in order
    ("the first audio", "A", None),  # 3 tokens: fallback
    ("Answer: B.", "A", None),  # the capital A of "Answer"
    ("The first audio is louder than the second audio.", "B", "B"),  # content, last wins
    ("I think the second audio is louder.", "B", "B"),  # 7 tokens: content stage
    ("I think the first audio is louder.", "A", "A"),
    ("The second audio is louder.", "A", None),  # 5 tokens: fallback
    ("the first audio", "A", None),
    ("B", "B", "B"),
    ("A", "A", "A"),
    ("(B)", "B", "B"),
    ("(A) or (B)? (B)", "B", "B"),  # the bracket that occurs last
    ("b", "A", None),  # case-sensitive letters
    ("", "A", None),
  ],
)
def test_spec_examples(response, expected, strict):
  assert avprobe.parse_answer(response, AB) == expected
  assert avprobe.parse_answer(response, AB, mode="strict") == strict


def test_strip_chain_and_padding():
  # "B. " keeps its dot: the strips are of single characters, not of whitespace.
  assert avprobe.parse_detail("B. ", AB).stage == "letter"
  assert avprobe.parse_detail("'B'!", AB).letter == "B"


def test_space_stage():
  # No capital A-D anywhere but a spaced letter: impossible with capitals, so use other letters.
  opts = {"X": "one", "Y": "two"}
  assert avprobe.parse_detail("pick Y now", opts) == avprobe.Parsed("Y", "letter", False)
  assert avprobe.parse_detail("X and Y", opts).letter == "X"


def test_counting_options_content_stage():
  opts = ["3", "7", "2", "5"]
  assert avprobe.parse_answer("There are 7 sounds in this audio clip.", opts) == "B"


def test_batch_reports_failure_rate():
  responses = ["B", "the first audio", "Audio B", "I cannot hear audio"]
  opts = [AB] * 4
  lenient = avprobe.parse_answers(responses, opts)
  strict = avprobe.parse_answers(responses, opts, mode="strict")
  # Fallbacks: "the first audio" and "I cannot hear audio" (no capital A/B, 4 tokens); strict
  # also refuses "Audio B" (two letters, no brackets).
  assert lenient.letters == ["B", "A", "A", "A"] and lenient.fail_rate == 0.5
  assert strict.letters == ["B", None, None, None] and strict.fail_rate == 0.75


@pytest.mark.parametrize(
  "options", [["only one"], [], "AB", {"a": "x", "B": "y"}, ["x", ""], ["x", 3], None]
)
def test_malformed_options_are_named(options):
  with pytest.raises(ValueError, match="options"):
    avprobe.parse_answer("A", options)


def test_unknown_mode():
  with pytest.raises(ValueError, match="mode"):
    avprobe.parse_answer("A", AB, mode="mmmu")

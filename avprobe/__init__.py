"""avprobe: a DeafTest-style audio-perception probe for any model callable.

AV-Odyssey Bench (Gong et al., arXiv 2412.02611) found that multimodal language models fail
trivial audio questions (which of two sounds is louder, higher, longer; how many sounds) and
that this "DeafTest" score tracks the whole benchmark's. This package generates such items with
controlled difficulty, reads model answers with the official parser (and a strict one), and
scores them with confidence intervals and psychometric thresholds.

Examples:
  >>> import avprobe
  >>> items = avprobe.make_items("loudness", n_per_cell=2, sr=16000)
  >>> responses = avprobe.run_model(avprobe.oracle, items)
  >>> avprobe.score(items, responses, n_boot=0)["tasks"]["loudness"]["acc"]
  1.0
"""

from avprobe._items import (
  ANSWER_SUFFIX,
  GRIDS,
  QUESTIONS,
  TASKS,
  TWO_AFC_OPTIONS,
  Item,
  export_items,
  items_to_jsonl,
  make_items,
  render_prompt,
)
from avprobe._models import (
  Model,
  constant_model,
  count_oracle,
  duration_oracle,
  load_model,
  noisy_oracle,
  oracle,
  pitch_oracle,
  random_model,
  rms_oracle,
  run_model,
  sentence_oracle,
  task_of,
  zcr_pitch_oracle,
)
from avprobe._parquet import load_official_deaftest
from avprobe._parser import MODES, ParseBatch, Parsed, parse_answer, parse_answers, parse_detail
from avprobe._scoring import (
  Threshold,
  binom_pvalue,
  fit_threshold,
  report_table,
  score,
  wilson_interval,
)
from avprobe._stimuli import db_to_gain, raised_cosine_ramp, rms, rms_db, tone
from avprobe._wav import decode_wav, read_wav, write_wav

__all__ = [
  "ANSWER_SUFFIX",
  "GRIDS",
  "MODES",
  "QUESTIONS",
  "TASKS",
  "TWO_AFC_OPTIONS",
  "Item",
  "Model",
  "ParseBatch",
  "Parsed",
  "Threshold",
  "binom_pvalue",
  "constant_model",
  "count_oracle",
  "db_to_gain",
  "decode_wav",
  "duration_oracle",
  "export_items",
  "fit_threshold",
  "items_to_jsonl",
  "load_model",
  "load_official_deaftest",
  "make_items",
  "noisy_oracle",
  "oracle",
  "parse_answer",
  "parse_answers",
  "parse_detail",
  "pitch_oracle",
  "raised_cosine_ramp",
  "random_model",
  "read_wav",
  "render_prompt",
  "report_table",
  "rms",
  "rms_db",
  "rms_oracle",
  "run_model",
  "score",
  "sentence_oracle",
  "task_of",
  "tone",
  "wilson_interval",
  "write_wav",
  "zcr_pitch_oracle",
]

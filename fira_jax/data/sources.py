"""Text sources chosen by a ``--data`` spec, split deterministically into train/validation.

* ``stdlib``: the Python standard library's own top-level ``*.py`` files (≈4.7 MB of real text
  on every machine; the exact content depends on the Python version).
* ``text:PATH``: a text file, or every ``*.txt``/``*.md``/``*.py`` file under a folder.
* ``tinyshakespeare``: Tiny Shakespeare (1,115,394 characters), found in
  ``$FIRA_JAX_DATA_DIR/tinyshakespeare/input.txt`` or the cache, else downloaded once
  (checksummed) from github.com/karpathy/char-rnn; see :func:`tinyshakespeare_path`.
* ``tfds:NAME``: a prepared TensorFlow Datasets builder (e.g. ``tfds:c4/en:3.1.0``), its
  ``train`` and ``validation`` splits, ``text`` feature.

Files are cut into documents of about ``doc_chars`` characters at blank lines; a document
goes to validation when ``crc32(name) mod 10000 < 10000·val_fraction``, so the split does not
depend on the order files are listed in, on the tokenizer or on the sequence length.
"""

from __future__ import annotations

import os
import pathlib
import sysconfig
import zlib

_TEXT_SUFFIXES = (".txt", ".md", ".py", ".rst")
TINYSHAKESPEARE_URL = (
  "https://raw.githubusercontent.com/karpathy/char-rnn/"
  "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt"
)
_TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def tinyshakespeare_path(
  data_dir: str | os.PathLike | None = None, *, download: bool = False
) -> pathlib.Path:
  """Path of Tiny Shakespeare's ``input.txt``.

  Args:
    data_dir: folder holding ``input.txt``; ``None`` looks in
      ``$FIRA_JAX_DATA_DIR/tinyshakespeare`` and then the cache (``$FIRA_JAX_CACHE`` or
      ``~/.cache/fira_jax``, folder ``data/tinyshakespeare``).
    download: when the file is not found, fetch it (SHA-256 checked) into ``data_dir`` (or the
      cache); needs network access.

  Raises:
    FileNotFoundError: not found, and ``download`` is false or the machine is offline.
  """
  from fira_jax.lab.download import dataset_dir, fetch

  folder = dataset_dir(
    "tinyshakespeare",
    ["input.txt"],
    data_dir,
    download=download,
    fetch_into=lambda d: fetch(TINYSHAKESPEARE_URL, d / "input.txt", _TINYSHAKESPEARE_SHA256),
    what="Tiny Shakespeare",
    hint=f"from {TINYSHAKESPEARE_URL}",
  )
  return folder / "input.txt"


def _chunk(name: str, text: str, doc_chars: int) -> list[tuple[str, str]]:
  docs, buf, k = [], [], 0
  size = 0
  for para in text.split("\n\n"):
    buf.append(para)
    size += len(para) + 2
    if size >= doc_chars:
      docs.append((f"{name}:{k}", "\n\n".join(buf)))
      buf, size, k = [], 0, k + 1
  if buf and any(p.strip() for p in buf):
    docs.append((f"{name}:{k}", "\n\n".join(buf)))
  return docs


def _files(spec: str) -> tuple[pathlib.Path, list[pathlib.Path]]:
  if spec == "stdlib":
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    return root, sorted(root.glob("*.py"))
  if spec == "tinyshakespeare":
    path = tinyshakespeare_path(download=True)
    return path.parent, [path]
  path = pathlib.Path(spec[len("text:") :]).expanduser()
  if not path.exists():
    raise FileNotFoundError(f"--data {spec}: no such file or folder: {path}")
  if path.is_file():
    return path.parent, [path]
  files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _TEXT_SUFFIXES)
  if not files:
    raise ValueError(f"--data {spec}: no {'/'.join(_TEXT_SUFFIXES)} files under {path}")
  return path, files


def _is_val(name: str, val_fraction: float) -> bool:
  return zlib.crc32(name.encode("utf-8")) % 10000 < int(round(val_fraction * 10000))


def _tfds_splits(name: str, max_docs: int | None) -> tuple[list[str], list[str]]:
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ValueError(
      f"--data tfds:{name} needs tensorflow-datasets: `pip install tensorflow-datasets "
      f"tensorflow`, then prepare it with `tfds build {name}`"
    ) from e
  builder = tfds.builder(name)
  if not builder.is_prepared():
    raise ValueError(
      f"--data tfds:{name}: the dataset is not prepared in {builder.data_dir}; run "
      f"`tfds build {name}` (or set TFDS_DATA_DIR to where it is prepared)"
    )

  def read(split: str) -> list[str]:
    ds = builder.as_dataset(split=split)
    if max_docs:
      ds = ds.take(max_docs)
    return [ex["text"].decode("utf-8") for ex in tfds.as_numpy(ds)]

  val_split = "validation" if "validation" in builder.info.splits else "test"
  return read("train"), read(val_split)


def load_text_splits(
  spec: str,
  *,
  val_fraction: float = 0.05,
  doc_chars: int = 4000,
  max_docs: int | None = None,
) -> tuple[list[str], list[str]]:
  """Reads the source named by ``spec`` and returns (train documents, validation documents).

  Args:
    spec: ``"stdlib"``, ``"tinyshakespeare"``, ``"text:PATH"`` or ``"tfds:NAME"``.
    val_fraction: fraction of documents held out for validation, in (0, 1).
    doc_chars: target document size when cutting files.
    max_docs: keep at most this many documents (after the split) per side; None for all.

  Raises:
    ValueError: for a bad spec or an unprepared TFDS dataset.
    FileNotFoundError: when the ``text:`` path does not exist, or Tiny Shakespeare is neither
      on disk nor downloadable.
  """
  if not 0.0 < val_fraction < 1.0:
    raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
  if spec.startswith("tfds:"):
    return _tfds_splits(spec[len("tfds:") :], max_docs)
  if spec not in ("stdlib", "tinyshakespeare") and not spec.startswith("text:"):
    raise ValueError(
      f"--data must be 'stdlib', 'tinyshakespeare', 'text:PATH' or 'tfds:NAME', got {spec!r}"
    )
  root, files = _files(spec)
  train, val = [], []
  for f in files:
    text = f.read_text(encoding="utf-8", errors="replace")
    for name, doc in _chunk(f.relative_to(root).as_posix(), text, doc_chars):
      (val if _is_val(name, val_fraction) else train).append(doc)
  if not train or not val:
    raise ValueError(
      f"--data {spec}: {len(train)} train / {len(val)} validation documents; the source is "
      f"too small to split (lower the document size or use more text)"
    )
  if max_docs:
    train, val = train[:max_docs], val[:max_docs]
  return train, val

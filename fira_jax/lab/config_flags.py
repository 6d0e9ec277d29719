"""Command-line flags from a config dataclass, with the help text taken from its docstring.

A field ``num_train: int = 1000`` documented as ``num_train: generated training problems.`` in
the class docstring's ``Attributes:`` section becomes ``--num-train INT`` with that help and
its default shown. Flags default to "not given" (``None``), so :func:`from_args` changes only
the fields the user set and keeps the rest of a base config (e.g. a ``smoke()`` variant).

Types come from the annotations: ``int``, ``float``, ``str``, ``X | None`` (the flag takes an
``X``), ``bool`` (``--flag/--no-flag``), ``typing.Literal[...]`` (choices). Fields of other
types (dicts, nested configs) are skipped unless ``exclude`` names them, in which case they are
skipped silently.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import shlex
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["field_help", "add_dataclass_flags", "from_args", "flag_name", "to_argv"]

_SIMPLE = (int, float, str)


def flag_name(field: str) -> str:
  """``num_train`` -> ``--num-train``."""
  return "--" + field.replace("_", "-")


def field_help(cls: type) -> dict[str, str]:
  """Help text of each field, from the ``Attributes:`` section of ``cls``'s docstring.

  An entry may document several fields at once (``batch_size, seq_len: ...``); continuation
  lines (indented deeper) are joined.
  """
  doc = inspect.getdoc(cls) or ""
  lines = doc.splitlines()
  try:
    start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
  except StopIteration:
    return {}
  out: dict[str, str] = {}
  current: list[str] = []
  indent = None
  entry = re.compile(r"^(\s+)([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_][\w]*)*)\s*(?:\([^)]*\))?:\s*(.*)$")
  for line in lines[start + 1 :]:
    if line.strip() and not line.startswith((" ", "\t")):
      break  # the next section
    m = entry.match(line)
    if m and (indent is None or len(m.group(1)) <= indent):
      indent = len(m.group(1))
      current = [n.strip() for n in m.group(2).split(",")]
      for name in current:
        out[name] = m.group(3).strip()
    elif line.strip() and current:
      for name in current:
        out[name] = (out[name] + " " + line.strip()).strip()
  return out


def _flag_type(annotation: Any) -> tuple[type | None, tuple | None, bool]:
  """``(python type, choices, is_bool)`` for an annotation, ``(None, None, False)`` if
  unsupported."""
  origin = typing.get_origin(annotation)
  if origin in (typing.Union, types.UnionType):
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1:
      return _flag_type(args[0])
    return None, None, False
  if origin is typing.Literal:
    choices = typing.get_args(annotation)
    return type(choices[0]), choices, False
  if annotation is bool:
    return bool, None, True
  if annotation in _SIMPLE:
    return annotation, None, False
  return None, None, False


def _default(field: dataclasses.Field) -> Any:
  if field.default is not dataclasses.MISSING:
    return field.default
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return dataclasses.MISSING


def add_dataclass_flags(
  parser: argparse.ArgumentParser | argparse._ArgumentGroup,
  cls: type,
  *,
  exclude: Iterable[str] = (),
  choices: Mapping[str, Sequence] | None = None,
  help: Mapping[str, str] | None = None,  # noqa: A002
  required: Iterable[str] = (),
) -> list[str]:
  """Adds one flag per field of the dataclass ``cls`` to ``parser``.

  Args:
    parser: an ``argparse`` parser or argument group.
    cls: the config dataclass.
    exclude: fields to leave out (the command sets them itself).
    choices: allowed values per field (else from a ``Literal`` annotation).
    help: help text that replaces the docstring's for some fields.
    required: fields whose flag must be given (fields without a default are required anyway).

  Returns:
    The names of the fields that got a flag (what :func:`from_args` reads back).
  """
  if not dataclasses.is_dataclass(cls):
    raise TypeError(f"cls must be a dataclass, got {cls!r}")
  hints = typing.get_type_hints(cls)
  docs = {**field_help(cls), **(help or {})}
  choices = dict(choices or {})
  exclude, required = set(exclude), set(required)
  added = []
  for field in dataclasses.fields(cls):
    if field.name in exclude or not field.init:
      continue
    kind, literal, is_bool = _flag_type(hints[field.name])
    if kind is None:
      continue
    default = _default(field)
    text = docs.get(field.name, "").replace("%", "%%")
    must = field.name in required or default is dataclasses.MISSING
    if default not in (dataclasses.MISSING, None) and not must:
      text += f" (default: {default})"
    if is_bool:
      parser.add_argument(
        flag_name(field.name),
        dest=field.name,
        action=argparse.BooleanOptionalAction,
        default=None,
        help=text,
      )
    else:
      parser.add_argument(
        flag_name(field.name),
        dest=field.name,
        type=kind,
        default=None,
        required=must,
        choices=choices.get(field.name, literal),
        metavar=None if choices.get(field.name, literal) else kind.__name__.upper(),
        help=text,
      )
    added.append(field.name)
  return added


def from_args(cls: type, args: argparse.Namespace, *, base: Any = None, **fixed: Any) -> Any:
  """The config of ``cls`` with the flags the user gave (``None`` = not given) applied.

  Args:
    cls: the config dataclass.
    args: parsed arguments from a parser set up by :func:`add_dataclass_flags`.
    base: the config to start from (default ``cls()`` with ``fixed``); its other fields stay.
    **fixed: fields set by the command itself, applied last.
  """
  names = {f.name for f in dataclasses.fields(cls) if f.init}
  given = {k: v for k, v in vars(args).items() if k in names and v is not None}
  if base is None:
    return cls(**{**given, **fixed})
  return dataclasses.replace(base, **given, **fixed)


def to_argv(cls: type, args: argparse.Namespace, *, fields: Iterable[str] | None = None) -> str:
  """The flags of ``cls`` that ``args`` sets, as a shell-quoted string (to record a command)."""
  names = [f.name for f in dataclasses.fields(cls)]
  if fields is not None:
    wanted = set(fields)
    names = [n for n in names if n in wanted]
  parts: list[str] = []
  for name in names:
    value = getattr(args, name, None)
    if value is None:
      continue
    if isinstance(value, bool):
      parts.append(flag_name(name) if value else "--no-" + name.replace("_", "-"))
    else:
      parts += [flag_name(name), str(value)]
  return shlex.join(parts)

"""Command-line flags and documentation tables, each generated from one declaration.

The model options (lit_seqsal/options.py), the server's budgets
(lit_seqsal/work/limits.py) and the salience methods' settings
(lit_seqsal/salience/methods.py) are declared once, with their defaults,
allowed values and help; their absl flags and the tables in docs/reference.md
come from those declarations through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def define_flag(
  name: str,
  default,
  help_text: str,
  *,
  choices: Sequence[str] = (),
  low: float | None = None,
  high: float | None = None,
  is_list: bool = False,
  number: type = int,
):
  """An absl flag of the kind the declaration calls for: a list, a choice, a text,
  a switch, or a number (int or float, `number`) within [low, high]."""
  from absl import flags  # absl only where flags are defined (servers, commands)

  if is_list:
    return flags.DEFINE_list(name, list(default), help_text)
  if choices:
    return flags.DEFINE_enum(name, default, list(choices), help_text)
  if isinstance(default, str):
    return flags.DEFINE_string(name, default, help_text)
  if isinstance(default, bool):
    return flags.DEFINE_bool(name, default, help_text)
  if number is float:
    return flags.DEFINE_float(name, default, help_text, lower_bound=low, upper_bound=high)
  return flags.DEFINE_integer(
    name, default, help_text, lower_bound=_whole(name, low), upper_bound=_whole(name, high)
  )


def _whole(name: str, bound: float | None) -> int | None:
  """An integer flag's bound as an int (a declaration's bounds are whole numbers)."""
  if bound is None:
    return None
  if bound != int(bound):
    raise ValueError(f"Flag --{name} is a whole number; its bound {bound} is not.")
  return int(bound)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
  """A Markdown table (docs/reference.md's generated tables)."""
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return "\n".join(lines)

"""Parts of a prompt template and the share of salience each receives.

`--regions` names parts of the prompt (each flag value one spec):

- `NAME=REGEX`: the region NAME is every match of REGEX in the prompt
  (Python syntax, `^` and `$` match at line starts and ends; `(?s)` lets `.`
  cross lines);
- `paragraphs` / `lines`: each paragraph (`paragraph 1`, `paragraph 2`, ...) or
  line (`line 1`, ...) of the prompt, by the client's segmentation rules;
- `blocks:REGEX`: few-shot blocks: a block starts at each line matching REGEX
  and runs to the next one or the end of the prompt (`block 1`, `block 2`,
  ...); what comes before the first is `preamble`;
- `labels:A,B`: each line that starts with `A:` (or `B:`) is a region,
  numbered by occurrence (`A #1`, `A #2`, ...).

The prompt tokens that no region covers form `(rest)`. A region's share of
salience in one example is the sum of |score| over its tokens divided by that
sum over all prompt tokens (BOS excluded; absolute values, so signed methods
count evidence for and against alike); overlapping regions each count the
tokens they share. The prompt is the model's view of it: the text of its
tokens, so regions can be recomputed from a results file without the model.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal.salience import segmentation
from lit_seqsal.tokens import token_text

REST = "(rest)"
_KINDS = ("paragraphs", "lines")


class RegionSpecError(ValueError):
  """A --regions value that cannot be used; the message says why and what is allowed."""


@dataclass(frozen=True)
class RegionSpec:
  text: str  # as given on the command line
  kind: str  # "regex", "paragraphs", "lines", "blocks", "labels"
  name: str = ""  # for "regex"
  pattern: re.Pattern | None = None  # for "regex" and "blocks"
  labels: tuple[str, ...] = ()  # for "labels"

  @property
  def regex(self) -> re.Pattern:
    """The compiled pattern of a "regex" or "blocks" spec."""
    if self.pattern is None:
      raise RegionSpecError(f"Region spec {self.text!r} ({self.kind}) has no pattern.")
    return self.pattern


def parse_spec(text: str) -> RegionSpec:
  """One --regions value (see the module docstring)."""
  text = text.strip()
  if text in _KINDS:
    return RegionSpec(text, text)
  for prefix, kind in (("blocks:", "blocks"), ("labels:", "labels"), ("label:", "labels")):
    if text.startswith(prefix):
      rest = text[len(prefix) :]
      if kind == "labels":
        labels = tuple(t.strip().rstrip(":") for t in rest.split(",") if t.strip())
        if not labels:
          raise RegionSpecError(
            f"Region spec {text!r}: name at least one label, e.g. labels:Analysis."
          )
        return RegionSpec(text, kind, labels=labels)
      return RegionSpec(text, kind, pattern=_compile(rest, text))
  name, sep, pattern = text.partition("=")
  if not sep or not name.strip() or not pattern:
    raise RegionSpecError(
      f"Region spec {text!r} is not one of: NAME=REGEX, paragraphs, lines, blocks:REGEX,"
      " labels:LABEL[,LABEL...]."
    )
  if name.strip() == REST:
    raise RegionSpecError(f"Region name {REST!r} is reserved for the tokens no region covers.")
  return RegionSpec(text, "regex", name=name.strip(), pattern=_compile(pattern, text))


def _compile(pattern: str, spec: str) -> re.Pattern:
  if not pattern:
    raise RegionSpecError(f"Region spec {spec!r}: the regular expression is empty.")
  try:
    return re.compile(pattern, re.MULTILINE)
  except re.error as e:
    raise RegionSpecError(f"Region spec {spec!r}: invalid regular expression ({e}).") from e


def parse_specs(texts: Iterable[str]) -> list[RegionSpec]:
  return [parse_spec(t) for t in texts if t.strip()]


@dataclass
class Region:
  name: str
  tokens: list[int]  # token indices (into prompt + output), in order

  def ranges(self) -> list[list[int]]:
    """The tokens as [start, end) runs (compact for the results file)."""
    out: list[list[int]] = []
    for i in self.tokens:
      if out and out[-1][1] == i:
        out[-1][1] = i + 1
      else:
        out.append([i, i + 1])
    return out


def _char_offsets(tokens: Sequence[str], first: int, last: int) -> tuple[str, list[int]]:
  """The text of tokens[first:last] and each token's start offset in it (plus the end)."""
  starts, pos = [], 0
  texts = [token_text(t) for t in tokens[first:last]]
  for t in texts:
    starts.append(pos)
    pos += len(t)
  starts.append(pos)
  return "".join(texts), starts


def _tokens_in(
  intervals: Sequence[tuple[int, int]], text: str, starts: Sequence[int], first: int
) -> list[int]:
  """Tokens (absolute indices) with a non-space character in the char intervals (a
  whitespace-only token: its first character)."""
  covered = np.zeros(len(text) + 1, dtype=bool)
  for a, b in intervals:
    covered[a:b] = True
  out = []
  for k in range(len(starts) - 1):
    s, e = starts[k], starts[k + 1]
    chars = [p for p in range(s, e) if not text[p].isspace()] or [s]
    if any(covered[p] for p in chars if p < len(text)):
      out.append(first + k)
  return out


def prompt_regions(
  tokens: Sequence[str], prompt_length: int, specs: Sequence[RegionSpec]
) -> list[Region]:
  """The regions of one example's prompt (tokens 1..prompt_length-1), `(rest)` last."""
  first, last = 1, prompt_length
  text, starts = _char_offsets(tokens, first, last)
  regions: dict[str, list[int]] = {}

  def add(name: str, token_ids: Iterable[int]) -> None:
    ids = regions.setdefault(name, [])
    ids.extend(token_ids)

  lines = segmentation.segment_tokens(tokens, "lines", first, last) if last > first else []

  def line_text(a: int, b: int) -> str:
    return "".join(token_text(t) for t in tokens[a:b])

  for spec in specs:
    if spec.kind == "regex":
      intervals = [m.span() for m in spec.regex.finditer(text) if m.end() > m.start()]
      add(spec.name, _tokens_in(intervals, text, starts, first))
    elif spec.kind in _KINDS:
      granularity, label = (
        ("paragraphs", "paragraph") if spec.kind == "paragraphs" else ("lines", "line")
      )
      segs = segmentation.segment_tokens(tokens, granularity, first, last) if last > first else []
      for k, (a, b) in enumerate(segs, start=1):
        add(f"{label} {k}", range(a, b))
    elif spec.kind == "blocks":
      block_starts = [a for a, b in lines if spec.regex.search(line_text(a, b).strip())]
      if block_starts and block_starts[0] > first:
        add("preamble", range(first, block_starts[0]))
      for k, a in enumerate(block_starts, start=1):
        b = block_starts[k] if k < len(block_starts) else last
        add(f"block {k}", range(a, b))
    elif spec.kind == "labels":
      counts: dict[str, int] = {}
      for a, b in lines:
        stripped = line_text(a, b).strip()
        label = next((name for name in spec.labels if stripped.startswith(name + ":")), None)
        if label is not None:
          counts[label] = counts.get(label, 0) + 1
          add(f"{label} #{counts[label]}", range(a, b))
  out = [Region(name, sorted(set(ids))) for name, ids in regions.items()]
  covered = {i for r in out for i in r.tokens}
  out.append(Region(REST, [i for i in range(first, last) if i not in covered]))
  return out


def shares(regions: Sequence[Region], scores: Sequence[float], prompt_length: int) -> list[float]:
  """Each region's share of the prompt's total |score| (0 where the total is 0)."""
  absolute = np.abs(np.asarray(scores, dtype=np.float64))
  total = float(absolute[1:prompt_length].sum())
  if total <= 0:
    return [0.0 for _ in regions]
  return [float(absolute[r.tokens].sum()) / total if r.tokens else 0.0 for r in regions]


def top_region(names: Sequence[str], values: Sequence[float]) -> str | None:
  """The region with the largest share (the first on ties); None when all are 0."""
  if not values or max(values) <= 0:
    return None
  return names[int(np.argmax(values))]


def example_regions(record: dict, specs: Sequence[RegionSpec]) -> dict:
  """A record's `regions` field: names, token runs, and per method shares and top."""
  regions = prompt_regions(record["tokens"], record["prompt_length"], specs)
  names = [r.name for r in regions]
  per_method = {
    m: shares(regions, s["tokens"], record["prompt_length"])
    for m, s in record.get("salience", {}).items()
  }
  return {
    "spec": [s.text for s in specs],
    "names": names,
    "tokens": [r.ranges() for r in regions],
    "shares": per_method,
    "top": {m: top_region(names, v) for m, v in per_method.items()},
  }


# -- across examples ------------------------------------------------------------


@dataclass
class RegionStats:
  name: str
  examples: int  # examples where the region is present (non-empty)
  mean: float
  std: float
  p25: float
  median: float
  p75: float
  top_fraction: float  # of the method's examples, how often this region had the largest share
  highest: list[tuple[str, float]]  # (example id, share), largest first
  lowest: list[tuple[str, float]]  # smallest first

  def as_json(self) -> dict:
    d = dataclasses.asdict(self)
    d["highest"] = [{"id": i, "share": s} for i, s in self.highest]
    d["lowest"] = [{"id": i, "share": s} for i, s in self.lowest]
    return d


def _finite(x: float | np.floating) -> float:
  return 0.0 if math.isnan(x) else float(x)


def aggregate(records: Sequence[dict], examples_listed: int = 3) -> dict:
  """Per model and method, each region's share across the records (with `regions`).

  Returns {model: {method: {"examples": n, "regions": [RegionStats, ...]}}},
  regions in order of first appearance.
  """
  by: dict[tuple[str, str], dict] = {}
  for record in records:
    regions = record.get("regions")
    if not regions:
      continue
    tokens = regions["tokens"]
    for method, values in regions["shares"].items():
      entry = by.setdefault(
        (record.get("model", ""), method), {"examples": 0, "shares": {}, "top": {}}
      )
      entry["examples"] += 1
      for name, runs, share in zip(regions["names"], tokens, values):
        if name == REST and not runs:
          continue
        if runs:
          entry["shares"].setdefault(name, []).append((record["id"], share))
      top = regions["top"].get(method)
      if top is not None:
        entry["top"][top] = entry["top"].get(top, 0) + 1
  out: dict[str, dict] = {}
  for (model, method), entry in by.items():
    stats = []
    for name, pairs in entry["shares"].items():
      values = np.asarray([s for _, s in pairs], dtype=np.float64)
      ranked = sorted(pairs, key=lambda p: (-p[1], p[0]))
      stats.append(
        RegionStats(
          name=name,
          examples=len(pairs),
          mean=_finite(values.mean()),
          std=_finite(values.std()),
          p25=_finite(np.percentile(values, 25)),
          median=_finite(np.percentile(values, 50)),
          p75=_finite(np.percentile(values, 75)),
          top_fraction=entry["top"].get(name, 0) / max(entry["examples"], 1),
          highest=ranked[:examples_listed],
          lowest=sorted(pairs, key=lambda p: (p[1], p[0]))[:examples_listed],
        )
      )
    out.setdefault(model, {})[method] = {"examples": entry["examples"], "regions": stats}
  return out

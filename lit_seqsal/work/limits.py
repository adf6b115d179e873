"""The server's budgets: how much one request, one job and the caches may take.

A public demo must not let one visitor take the model over, so `--hosted`
(and `get_wsgi_app()`) applies tight defaults; a local server gets generous
ones. Every limit has a flag; docs/reference.md lists them. Requests
over a budget are refused before any model work (lit_seqsal/errors.TooLarge),
with a message naming the limit and its flag.
"""

from __future__ import annotations

import dataclasses

from lit_seqsal import cli, errors

# A field's metadata: (hosted default, local default, help). 0 means "no limit".
_MiB = 1 << 20


def _limit(hosted, local, help_text):
  return dataclasses.field(default=local, metadata={"hosted": hosted, "help": help_text})


@dataclasses.dataclass(frozen=True)
class Limits:
  """Budgets of one server (defaults: a local server; see HOSTED)."""

  max_body_bytes: int = _limit(2 * _MiB, 64 * _MiB, "Largest request body, in bytes.")
  max_input_tokens: int = _limit(
    1024, 0, "Most tokens of prompt + target per input (0: the model's --sequence_length)."
  )
  max_examples_per_request: int = _limit(
    32, 0, "Most examples in one request to a generation or tokenizer model or an interpreter."
  )
  max_masks_per_request: int = _limit(
    256, 0, "Most inputs (target masks) in one request to a salience model."
  )
  max_ig_steps: int = _limit(64, 0, "Most integrated-gradients steps a request may ask for.")
  max_occlusion_units: int = _limit(
    256, 0, "Most segments occlusion may delete (one forward pass each) per request."
  )
  max_checks_per_request: int = _limit(
    4, 0, "Most inputs asking for a deletion check (`check`) in one request to a salience model."
  )
  max_map_outputs: int = _limit(
    128, 0, "Most output tokens of one salience map (one backward pass each)."
  )
  request_time_limit_s: float = _limit(
    60, 0, "Compute time one HTTP request may use before it is stopped; longer work runs as a job."
  )
  job_time_limit_s: float = _limit(600, 0, "Compute time one job may use before it is stopped.")
  queue_per_model: int = _limit(
    8, 64, "Requests and jobs waiting for or using one model; more get 429 Busy."
  )
  max_jobs: int = _limit(4, 16, "Jobs queued or running at once, over all models.")
  server_threads: int = _limit(
    16,
    16,
    "Requests the demo server or the notebook widget handles at once, one thread each"
    " (gunicorn: its THREADS). At least --queue_per_model plus a few, for static files"
    " and job polls.",
  )
  job_ttl_s: float = _limit(
    30, 120, "A running job nobody polled for this long is cancelled (its client went away)."
  )
  result_ttl_s: float = _limit(120, 600, "How long a finished job's result is kept.")
  cache_mb: int = _limit(256, 1024, "Memory for cached salience results per model, in MiB.")
  lit_cache_mb: int = _limit(256, 2048, "Memory for LIT's prediction cache per model, in MiB.")

  def replace(self, **changes) -> Limits:
    return dataclasses.replace(self, **changes)

  def check(self, name: str, value: float, what: str) -> None:
    """TooLarge when `value` is over limit `name` (unless that limit is 0)."""
    limit = getattr(self, name)
    if limit and value > limit:
      raise errors.TooLarge(
        f"{what} is {value:g}, over this server's limit of {limit:g}"
        f" (--{name}). {_ADVICE.get(name, '')}".rstrip()
      )


_ADVICE = {
  "max_input_tokens": "Shorten the prompt or the target.",
  "max_examples_per_request": "Send fewer examples per request.",
  "max_masks_per_request": "Ask for fewer output segments at once.",
  "max_ig_steps": "Ask for fewer integration steps (ig_steps).",
  "max_occlusion_units": "Use a coarser granularity (sentences, lines or paragraphs)"
  " or a shorter prompt.",
  "max_map_outputs": "Explain a shorter output, or select a span instead.",
  "max_checks_per_request": "Ask for the check of fewer spans at once.",
  "max_body_bytes": "Send a smaller request.",
}

LOCAL = Limits()
HOSTED = Limits(**{f.name: f.metadata["hosted"] for f in dataclasses.fields(Limits)})


def define_flags() -> None:
  """absl flags for every limit, defaulting to the hosted or local value (see from_flags)."""
  for field in dataclasses.fields(Limits):
    meta = field.metadata
    text = f"{meta['help']} Default: {meta['hosted']:g} with --hosted, {field.default:g} otherwise."
    cli.define_flag(
      field.name, None, text, low=0, number=float if field.type in ("float", float) else int
    )


def from_flags(hosted: bool) -> Limits:
  from absl import flags

  base = HOSTED if hosted else LOCAL
  given = {
    f.name: flags.FLAGS[f.name].value
    for f in dataclasses.fields(Limits)
    if flags.FLAGS[f.name].value is not None
  }
  return dataclasses.replace(base, **given)


def markdown_table() -> str:
  """docs/reference.md's table of limits and their flags."""

  def show(value) -> str:
    return "none" if not value else f"{value:g}"

  return cli.markdown_table(
    ("flag", "with `--hosted`", "otherwise", "what it bounds"),
    (
      (f"`--{f.name}`", show(f.metadata["hosted"]), show(f.default), f.metadata["help"])
      for f in dataclasses.fields(Limits)
    ),
  )

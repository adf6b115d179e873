r"""LIT server for sequence salience on causal language models.

It serves the lit-seqsal client at / and LIT's own client at /lit/.

With no flags it serves the bundled Gemma 3 270M on the sample prompts:

  python -m lit_seqsal.demos.lm_salience --port=5432

Other models, as NAME:PATH where PATH is a local Hugging Face directory, a
.tar.gz archive of one, a Hugging Face Hub preset (needs network and, for gated
models, a token), or `bundled`:

  python -m lit_seqsal.demos.lm_salience \
      --models=gemma:google/gemma-3-270m,mine:/models/my_lm --precision=bfloat16

A public demo: `--hosted` (tight budgets, no endpoints that read server paths;
see docs/hosting.md), or gunicorn with `get_wsgi_app()`, which is
always hosted; see demos/deploy/gunicorn_config.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags, logging
from lit_nlp import server_flags

from lit_seqsal import datasets as seqsal_datasets
from lit_seqsal import options
from lit_seqsal.errors import SetupError
from lit_seqsal.serving import layouts
from lit_seqsal.serving import lit_server as server
from lit_seqsal.work import limits

_MODELS, _DATASETS, _MAX_EXAMPLES = options.define_source_flags(
  seqsal_datasets.DEFAULT_MAX_EXAMPLES, "Maximum number of examples loaded from each dataset."
)
_HOSTED = flags.DEFINE_bool(
  "hosted",
  False,
  "Serve as a public demo: LIT's demo mode, no loaders or endpoints that read or"
  " write server paths, and the hosted budgets (--max_input_tokens, ...).",
)
_RESULTS = flags.DEFINE_string(
  "results",
  "",
  "A results file of the batch command (python -m lit_seqsal.attribute --out=FILE),"
  " served at /seqsal/results for the client's dataset view.",
)
options.define_flags()  # --dl_framework, --precision, --sequence_length, ...
limits.define_flags()  # --max_body_bytes, --request_time_limit_s, --queue_per_model, ...

FLAGS = flags.FLAGS
FLAGS.set_default("development_demo", True)
FLAGS.set_default("page_title", "LM Sequence Salience")
FLAGS.set_default("default_layout", layouts.DEFAULT_LAYOUT)


def build_server(*, hosted: bool = False) -> server.Server:
  """LIT server from the flags; `hosted` (or --hosted) makes it a public demo."""
  hosted = hosted or _HOSTED.value
  server_limits = limits.from_flags(hosted)
  opts = options.from_flags()
  if hosted and opts.max_length is None and server_limits.max_input_tokens:
    # A public demo keeps its budget: the model takes no longer input than a request may send.
    opts = opts.replace(max_length=server_limits.max_input_tokens)
  kwargs = server.lit_app_kwargs(
    models_config=_MODELS.value,
    datasets_config=_DATASETS.value,
    max_examples=_MAX_EXAMPLES.value,
    opts=opts,
  )
  flag_values = server_flags.get_flags()
  if hosted:
    flag_values.update(demo_mode=True, development_demo=False)
  return server.Server(
    **kwargs, **flag_values, hosted=hosted, limits=server_limits, results_path=_RESULTS.value
  )


def get_wsgi_app():
  """WSGI app for gunicorn: always hosted (see build_server)."""
  FLAGS.set_default("server_type", "external")
  FLAGS.set_default("demo_mode", True)
  FLAGS.set_default("development_demo", False)
  # gunicorn owns the command line; only take the flags we know.
  unused = FLAGS(sys.argv, known_only=True)
  # The request log (with each request's id, which error bodies quote).
  logging.set_verbosity(logging.INFO)
  if unused[1:]:
    logging.info("get_wsgi_app(): ignoring unknown args %s", unused[1:])
  return build_server(hosted=True).serve()


def main(argv: Sequence[str]):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  try:
    server = build_server()
  except SetupError as e:
    # A mistake in the command (model name or path, missing extra, dataset file):
    # its message says what to do; a traceback stays for real faults.
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 1
  return server.serve()


if __name__ == "__main__":
  app.run(main)

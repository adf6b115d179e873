"""Wiring shared by the demo server, the WSGI app and the notebook widget."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lit_nlp import dev_server
from lit_nlp.components import core as lit_core

from lit_seqsal import datasets as seqsal_datasets
from lit_seqsal import models as seqsal_models
from lit_seqsal.components import interpreters as seqsal_interpreters
from lit_seqsal.options import ModelOptions
from lit_seqsal.serving import app as web_app
from lit_seqsal.serving import http_servers, layouts, static_files
from lit_seqsal.work import limits as limits_lib

LIT_CLIENT_ROOT = static_files.LIT_CLIENT_ROOT

ONBOARD_DOC = """
# Sequence salience for language models

Pick an example, then click a part of the model's output (a token, word,
sentence, line or paragraph) in the Sequence Salience module. Earlier text is
shaded by how much it mattered for that output: darker means a larger effect on
the log-probability of the selected span. Use the granularity menu to move
between tokens and larger units, and the method menu to switch between Gradient
Norm, Gradient-dot-Input, Integrated Gradients and segment occlusion (the last
two are computed when you pick them). The "Salience map" tab shows every output
token against every earlier token.
"""


def app_kwargs(models: dict, datasets: dict, opts: ModelOptions | None = None) -> dict:
  """LIT Server / LitApp / LitWidget arguments around already-loaded models and data;
  `opts` are the defaults of the "Configure" menu's model loader."""
  return dict(
    models=models,
    datasets=datasets,
    # LIT's defaults (what a LitApp gets without this argument) plus ours.
    interpreters=lit_core.default_interpreters(models) | seqsal_interpreters.seqsal_interpreters(),
    layouts=layouts.PROMPT_DEBUGGING_LAYOUTS,
    model_loaders=seqsal_models.get_model_loaders(opts),
    dataset_loaders=seqsal_datasets.get_dataset_loaders(),
    onboard_start_doc=ONBOARD_DOC,
  )


def lit_app_kwargs(
  *,
  models_config: Sequence[str],
  datasets_config: Sequence[str],
  max_examples: int | None,
  opts: ModelOptions,
) -> dict:
  """Loads datasets and models from configuration strings; see app_kwargs."""
  opts = opts.checked()
  # Datasets first: a bad file should fail before minutes of model loading.
  datasets = seqsal_datasets.get_datasets(datasets_config, max_examples=max_examples)
  models = seqsal_models.get_models(models_config, opts)
  return app_kwargs(models, datasets, opts)


class _NoAccessLines(logging.Filter):
  """Drops werkzeug's line per request: SalienceApp logs each request once itself,
  with its request id and time (lit_seqsal/serving/app.py)."""

  def filter(self, record: logging.LogRecord) -> bool:
    # werkzeug's log_request: 'ADDRESS - - [DATE] "%s" %s %s' with (request line, status, size).
    return not (isinstance(record.msg, str) and record.msg.rstrip().endswith('"%s" %s %s'))


_ACCESS_FILTER = _NoAccessLines()


def quiet_access_log() -> None:
  """One log line per request (werkzeug's development server logs them too)."""
  werkzeug_log = logging.getLogger("werkzeug")
  if _ACCESS_FILTER not in werkzeug_log.filters:
    werkzeug_log.addFilter(_ACCESS_FILTER)


# Our threaded servers for LIT's server types (lit_seqsal/serving/http_servers.py);
# other types fall back to LIT's own (dev_server.WSGI_SERVERS).
HTTP_SERVERS = {
  "default": http_servers.DemoServer,
  "basic": http_servers.DemoServer,
  "notebook": http_servers.NotebookServer,
}


class Server(dev_server.Server):
  """LIT's development server around our SalienceApp (our client at `/`).

  LIT's Server builds a plain LitApp inside serve(); this one builds the
  subclass and otherwise serves the same way (server types default, notebook,
  external for gunicorn, prebake), except that the demo server and the
  notebook's handle `threads` requests at once (default: the limits'
  server_threads; lit_seqsal/serving/http_servers.py). `hosted` and `limits`
  are SalienceApp's (lit_seqsal/serving/app.py).
  """

  def __init__(
    self,
    *args,
    hosted: bool = False,
    limits=None,
    results_path: str = "",
    threads=None,  # int; None: the limits' server_threads
    **kw,
  ):
    super().__init__(*args, **kw)
    self._hosted, self._limits, self._results_path = hosted, limits, results_path
    chosen = limits or (limits_lib.HOSTED if hosted else limits_lib.LOCAL)
    self.threads = threads or chosen.server_threads
    self.app: web_app.SalienceApp | None = None
    self.http_server = None  # the server serve() started (DemoServer, NotebookServer)

  def serve(self):
    app = self.app = web_app.SalienceApp(
      *self._app_args,
      **self._app_kw,
      hosted=self._hosted,
      limits=self._limits,
      results_path=self._results_path,
    )
    if self._server_type == "external":
      return app
    if self._server_type == "prebake":
      app.save_cache()
      return None
    quiet_access_log()
    if self._server_type in HTTP_SERVERS:
      server = HTTP_SERVERS[self._server_type](app, threads=self.threads, **self._server_kw)
    else:
      server = dev_server.WSGI_SERVERS[self._server_type](app, **self._server_kw)
    self.http_server = server
    server.serve()
    if self._server_type == "notebook":
      return server
    app.save_cache()
    return None

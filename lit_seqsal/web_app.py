"""The WSGI app: our client at `/`, LIT's own client at `/lit/`, LIT's API for both.

LIT's `LitApp` serves one client directory next to its JSON endpoints. This
subclass keeps LIT's endpoints and its client (under `/lit/`, whose pages call
the API relative to themselves), and serves the built lit-seqsal client
(`lit_seqsal/client/build`) everywhere else.
"""

from __future__ import annotations

import os

import lit_nlp
from absl import logging
from lit_nlp import app as lit_app
from lit_nlp.lib import wsgi_app
from werkzeug import wrappers

# LIT's prebuilt web client, shipped inside the lit-nlp wheel; served at /lit/.
LIT_CLIENT_ROOT = os.path.join(os.path.dirname(lit_nlp.__file__), "client", "build", "default")
CLIENT_BUILD_DIR = os.path.join(os.path.dirname(__file__), "client", "build")
LIT_PREFIX = "/lit"
# Endpoints of LitApp (lit_nlp/app.py); everything else is a static file.
API_PATHS = frozenset({
    "/get_info", "/get_dataset", "/create_dataset", "/create_model", "/get_generated",
    "/save_datapoints", "/load_datapoints", "/annotate_new_data", "/post_new_data",
    "/fetch_new_data", "/remove_new_data", "/push_ui_state", "/get_preds",
    "/get_interpretations", "/get_metrics",
})

MISSING_CLIENT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lit-seqsal: client not built</title></head>
<body style="font-family: sans-serif; margin: 2em; max-width: 50em">
<h1>The lit-seqsal client is not built</h1>
<p>This server has no built client in <code>{build_dir}</code>. Build it once with
<code>make client</code> from the repository root (or <code>npm ci &amp;&amp; npm run build</code>
in <code>lit_seqsal/client</code>; needs Node.js 20), then reload this page.</p>
<p>The models are loaded and LIT's API works. LIT's own client is available at
<a href="lit/">lit/</a>.</p>
</body></html>
"""


def client_is_built(build_dir: str = CLIENT_BUILD_DIR) -> bool:
  return os.path.isfile(os.path.join(build_dir, "index.html")) and os.path.isfile(
      os.path.join(build_dir, "app.js"))


class SalienceApp(lit_app.LitApp):
  """LitApp that serves the lit-seqsal client at `/` and LIT's at `/lit/`."""

  def __init__(self, *args, seqsal_client_dir: str = CLIENT_BUILD_DIR, **kwargs):
    if kwargs.get("client_root") is None:
      kwargs["client_root"] = LIT_CLIENT_ROOT
    super().__init__(*args, **kwargs)
    self._seqsal_client_dir = seqsal_client_dir
    self._static = wsgi_app.App(handlers={}, project_root=seqsal_client_dir, index_file="index.html")
    if not client_is_built(seqsal_client_dir):
      logging.warning(
          "The lit-seqsal client is not built (%s): `/` shows how to build it"
          " (make client); LIT's client is at /lit/.", seqsal_client_dir)

  def __call__(self, environ, start_response):
    path = environ.get("PATH_INFO", "") or "/"
    if path == LIT_PREFIX:
      # Relative URLs in LIT's page need the trailing slash.
      query = environ.get("QUERY_STRING", "")
      location = environ.get("SCRIPT_NAME", "") + LIT_PREFIX + "/" + (f"?{query}" if query else "")
      return wrappers.Response(status=301, headers={"Location": location})(environ, start_response)
    if path.startswith(LIT_PREFIX + "/"):
      environ = dict(environ)
      environ["PATH_INFO"] = path[len(LIT_PREFIX):]
      environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + LIT_PREFIX
      return super().__call__(environ, start_response)
    if path.rstrip("/") in API_PATHS:
      return super().__call__(environ, start_response)
    if not client_is_built(self._seqsal_client_dir):
      page = MISSING_CLIENT_PAGE.format(build_dir=self._seqsal_client_dir)
      response = wrappers.Response(page, status=503, content_type="text/html; charset=utf-8")
      return response(environ, start_response)
    return self._static(environ, start_response)

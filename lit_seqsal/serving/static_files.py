"""Files this server serves: our built client at `/`, LIT's prebuilt client at `/lit/`.

Files come from their directories only (never outside them). LIT's page gets
lit_seqsal/serving/static/lit_client_errors.js, which shows our JSON errors in
LIT's status bar, and its fonts from our build (`lit-fonts/`, built with the
client from npm font packages) instead of Google's font servers, so that it
makes no request to another origin.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re

import lit_nlp
from werkzeug import wrappers

from lit_seqsal import errors

# LIT's prebuilt web client, shipped inside the lit-nlp wheel; served at /lit/.
LIT_CLIENT_ROOT = os.path.join(os.path.dirname(lit_nlp.__file__), "client", "build", "default")
# Our client, built by `make client` (npm) into lit_seqsal/client/build.
CLIENT_BUILD_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "client", "build")
STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
# Loaded before LIT's client: shows our JSON errors in LIT's status bar.
LIT_ERRORS_SCRIPT = "lit_client_errors.js"
# LIT's fonts, under our client's build and served beside LIT's page (/lit/lit-fonts/).
LIT_FONTS_DIR = "lit-fonts"
_GOOGLE_FONT_LINK = re.compile(r'[ \t]*<link href="https://fonts\.googleapis\.com/[^"]*"[^>]*>\n?')

MISSING_CLIENT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lit-seqsal: client not built</title></head>
<body style="font-family: sans-serif; margin: 2em; max-width: 50em">
<h1>The lit-seqsal client is not built</h1>
<p>This server has no built client. Build it once with <code>make client</code> from
the repository root (or <code>npm ci &amp;&amp; npm run build</code> in
<code>lit_seqsal/client</code>; needs Node.js 20), then reload this page.</p>
<p>The models are loaded and LIT's API works. LIT's own client is available at
<a href="lit/">lit/</a>.</p>
</body></html>
"""


def client_is_built(build_dir: str = CLIENT_BUILD_DIR) -> bool:
  return os.path.isfile(os.path.join(build_dir, "index.html")) and os.path.isfile(
    os.path.join(build_dir, "app.js")
  )


def client_file(client_dir: str, path: str):
  """A file of our client, or a page saying how to build it."""
  if not client_is_built(client_dir):
    return wrappers.Response(
      MISSING_CLIENT_PAGE, status=503, content_type="text/html; charset=utf-8"
    )
  return static_file(client_dir, path, "index.html")


def lit_client_file(lit_root: str, path: str, client_dir: str = CLIENT_BUILD_DIR):
  """A file of LIT's client; its page with our error script and local fonts."""
  rel = path.strip("/")
  if rel == LIT_ERRORS_SCRIPT:
    return static_file(STATIC_DIR, LIT_ERRORS_SCRIPT, LIT_ERRORS_SCRIPT)
  if rel.startswith(LIT_FONTS_DIR + "/"):
    return static_file(os.path.join(client_dir, LIT_FONTS_DIR), rel[len(LIT_FONTS_DIR) :], "")
  if rel in ("", "index.html"):
    page = _read(os.path.join(lit_root, "static", "index.html")).decode("utf-8")
    page = _GOOGLE_FONT_LINK.sub("", page).replace(
      "</head>", f'  <link href="{LIT_FONTS_DIR}/lit-fonts.css" rel="stylesheet">\n</head>', 1
    )
    page = page.replace(
      '<script src="main.js">',
      f'<script src="{LIT_ERRORS_SCRIPT}"></script>\n  <script src="main.js">',
      1,
    )
    return wrappers.Response(
      page, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )
  return static_file(lit_root, path, "static/index.html")


def static_file(root: str, path: str, index: str):
  """A file under `root` (never outside it), or a JSON 404."""
  rel = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
  if rel in ("", "."):
    rel = index
  full = os.path.realpath(os.path.join(root, rel))
  if not full.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(full):
    raise errors.NotFound(f"No such page or file: /{rel}.")
  content_type = mimetypes.guess_type(full)[0] or "application/octet-stream"
  if content_type.startswith("text/") or content_type == "application/javascript":
    content_type += "; charset=utf-8"
  return wrappers.Response(
    _read(full), content_type=content_type, headers={"Cache-Control": "no-cache"}
  )


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()

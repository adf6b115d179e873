"""What every answer of this server looks like: JSON bodies, errors, security headers.

Errors are JSON with a status that says whose fault it is and the request id
(lit_seqsal/errors.py); anything unexpected is a 500 whose traceback goes
only to the log, under the request's id, never into a body.
"""

from __future__ import annotations

import json
import traceback

from absl import logging
from werkzeug import wrappers

from lit_seqsal import errors

SECURITY_HEADER_NAMES = frozenset(
  {"x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy"}
)


def json_response(payload, status: int = 200, headers: dict | None = None):
  return wrappers.Response(
    json.dumps(payload),
    status=status,
    headers=headers or {},
    content_type="application/json; charset=utf-8",
  )


def error_response(error: errors.ServingError, request_id: str):
  logging.info("request %s: %d %s: %s", request_id, error.status, error.kind, error)
  return json_response(errors.describe(error, request_id), error.status, error.headers())


def internal_error_response(request_id: str):
  logging.error("request %s failed:\n%s", request_id, traceback.format_exc())
  error = errors.ServingError(
    f"Internal error while serving this request (id {request_id}). The server log has"
    " the details under this id; please report it."
  )
  return json_response(errors.describe(error, request_id), 500)


def security_headers(headers, *, hosted: bool) -> list[tuple[str, str]]:
  """Headers every answer gets, and for pages a Content-Security-Policy that allows
  nothing from other origins (LIT's page included: its fonts are served here)."""
  out = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
  # The notebook widget shows the page in an iframe of the notebook's origin;
  # a public demo may only be framed by itself.
  ancestors = "'self'" if hosted else "*"
  if hosted:
    out.append(("X-Frame-Options", "SAMEORIGIN"))
  content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
  if content_type.startswith("text/html"):
    out.append(
      (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none';"
        " style-src 'self' 'unsafe-inline'; font-src 'self' data:;"
        " img-src 'self' data: blob:; connect-src 'self';"
        f" frame-ancestors {ancestors}; form-action 'self'",
      )
    )
  return out

"""What can go wrong, and whose fault it is.

Starting up: a `SetupError` is a mistake the person starting lit-seqsal can fix
(a bad model name or path, a missing extra, a bad option); the server and the
batch command print its message and exit non-zero, without a traceback, which
stays for real faults.

Serving a request: every error the server reports is one of the `ServingError`
classes; the HTTP status says whose fault it is (lit_seqsal/serving/responses.py
turns them into JSON with a request id, and logs the traceback of anything else
as a 500).
"""

from __future__ import annotations


class SetupError(ValueError):
  """A start-up mistake the user can fix; the message says what to do."""


class MissingPath(SetupError, FileNotFoundError):
  """A model, dataset or results path that does not exist."""


class ServingError(Exception):
  """Base class: an error with an HTTP status and a message a person can act on."""

  status = 500
  kind = "internal"

  def __init__(self, *args, details: dict | None = None):
    super().__init__(*args)
    # Machine-readable facts for the client (a TooLarge estimate and budget).
    self.details = dict(details or {})

  def headers(self) -> dict[str, str]:
    return {}


class BadRequest(ServingError, ValueError):
  """Malformed body, or a field with a value that is not allowed (400)."""

  status = 400
  kind = "bad_request"


class InputError(BadRequest):
  """An example a model cannot process; the message says which field and why."""


class Forbidden(ServingError):
  """An endpoint this server does not offer to visitors (hosted mode) (403)."""

  status = 403
  kind = "forbidden"


class NotFound(ServingError, KeyError):
  """Unknown model, dataset, interpreter, job or path (404)."""

  status = 404
  kind = "not_found"

  def __str__(self) -> str:  # KeyError would quote the message
    return str(self.args[0]) if self.args else ""


class TooLarge(ServingError):
  """A request over one of the server's budgets (body, tokens, steps, ...) (413).

  Raised before any model work where the cost is known up front; the message
  names the limit and its flag.
  """

  status = 413
  kind = "too_large"


class Busy(ServingError):
  """The model's queue is full; try again shortly (429, with Retry-After)."""

  status = 429
  kind = "busy"

  def __init__(self, message: str, retry_after_s: int = 5, *, details: dict | None = None):
    super().__init__(message, details=details)
    self.retry_after_s = retry_after_s

  def headers(self) -> dict[str, str]:
    return {"Retry-After": str(self.retry_after_s)}


class NotReady(ServingError):
  """The server is still starting (503)."""

  status = 503
  kind = "not_ready"

  def headers(self) -> dict[str, str]:
    return {"Retry-After": "10"}


class Stopped(ServingError):
  """Work stopped before it finished: cancelled, expired, or over its time limit."""

  status = 413
  kind = "stopped"


def describe(error: ServingError, request_id: str) -> dict:
  """The JSON body of an error response (with the error's details, if any)."""
  body = {
    "status": error.status,
    "kind": error.kind,
    "message": str(error),
    "request_id": request_id,
  }
  details = getattr(error, "details", None)
  if details:
    body["details"] = details
  return {"error": body}

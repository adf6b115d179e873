"""`/seqsal/results`: the batch command's results file the server was started with.

Streamed up to its last complete line, since a batch run may still be writing
it; the client's dataset view reads it (lit_seqsal/client/src/dataset_view.ts).
"""

from __future__ import annotations

from werkzeug import wrappers

from lit_seqsal import errors
from lit_seqsal.batch import results as batch_results
from lit_seqsal.serving.endpoints import RESULTS_PATH


def results_file(results_path: str, method: str):
  """The results file, streamed, up to its last complete line."""
  if method not in ("GET", "HEAD"):
    raise errors.BadRequest(f"{RESULTS_PATH} takes GET, not {method}.")
  if not results_path:
    raise errors.NotFound(
      "This server has no results file: start it with --results=FILE"
      " (the output of python -m lit_seqsal.attribute)."
    )
  try:
    end = batch_results.complete_length(results_path)
    f = open(results_path, "rb")  # noqa: SIM115 (closed by the generator)
  except OSError:
    raise errors.NotFound("The server's results file cannot be read.") from None

  def chunks():
    with f:
      f.seek(0)
      left = end
      while left > 0:
        data = f.read(min(left, 1 << 20))
        if not data:
          break
        left -= len(data)
        yield data

  return wrappers.Response(
    chunks(),
    content_type="application/x-ndjson; charset=utf-8",
    headers={"Cache-Control": "no-cache"},
    direct_passthrough=True,
  )

"""The HTTP servers we start: a bounded pool of threads, so requests run side by side.

LIT's development servers handle one request at a time (`BasicDevServer`
calls werkzeug's `run_simple` without threads; the notebook's
`NotebookWsgiServer` is wsgiref's): a light request then waited for a whole
integrated-gradients request before the app even saw it, and the model lock
(lit_seqsal/work/model_lock.py), which hands the model to light work between
units of heavy work, never got the chance. These replace them from our side
(lit_seqsal/serving/lit_server.py picks them; LIT's files are untouched):

- `ThreadedServer`: werkzeug's server with a pool of `threads` threads (the
  demo server, `--server_threads`); connections beyond wait for a free thread.
- `NotebookServer`: the same, in a background thread, with the interface of
  LIT's `NotebookWsgiServer` (`port`, `app`, `stop()`), for the notebook widget.

Each response closes its connection (HTTP/1.0), so an idle keep-alive
connection never holds one of the threads, and a connection that sends
nothing for `TIMEOUT_S` is dropped. gunicorn (demos/deploy/gunicorn_config.py)
has its own thread pool (`gthread`).
"""

from __future__ import annotations

import concurrent.futures
import threading

import portpicker
from absl import logging
from lit_nlp.lib import wsgi_serving
from werkzeug import serving

# A connection that sends nothing for this long is closed (its thread freed).
TIMEOUT_S = 30


class _Handler(serving.WSGIRequestHandler):
  protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive
  timeout = TIMEOUT_S


class ThreadedServer(serving.BaseWSGIServer):
  """werkzeug's WSGI server handling up to `threads` requests at once."""

  multithread = True

  def __init__(self, host: str, port: int, app, *, threads: int):
    if threads < 1:
      raise ValueError(f"threads must be at least 1, got {threads}.")
    self.threads = threads
    self._pool = concurrent.futures.ThreadPoolExecutor(
      threads, thread_name_prefix="lit-seqsal-http"
    )
    super().__init__(host, port, app, handler=_Handler)

  def process_request(self, request, client_address) -> None:
    self._pool.submit(self._handle, request, client_address)

  def _handle(self, request, client_address) -> None:
    try:
      self.finish_request(request, client_address)
    except Exception:  # noqa: BLE001 (socketserver's own handling: log it, keep serving)
      self.handle_error(request, client_address)
    finally:
      self.shutdown_request(request)

  def server_close(self) -> None:
    super().server_close()
    self._pool.shutdown(wait=False, cancel_futures=True)


class DemoServer:
  """The demo server (LIT's server types "default" and "basic"): serves until
  interrupted (Ctrl+C), `threads` requests at once."""

  def __init__(self, wsgi_app, port: int = 4321, host: str = "127.0.0.1", *, threads: int, **_):
    self._app, self._host, self._port, self._threads = wsgi_app, host, port, threads
    self.can_act_as_model_server = True
    self.http: ThreadedServer | None = None
    self.started = threading.Event()

  def serve(self) -> None:
    self.http = ThreadedServer(self._host, self._port, self._app, threads=self._threads)
    logging.info(
      "Serving on http://%s:%d/ (%d threads; LIT's client at /lit/)",
      self._host,
      self.http.port,
      self._threads,
    )
    self.started.set()
    self.http.serve_forever()

  def stop(self) -> None:
    if self.http is not None:
      self.http.shutdown()

  @property
  def port(self) -> int:
    return self.http.port if self.http is not None else self._port


class NotebookServer(wsgi_serving.NotebookWsgiServer):
  """The notebook widget's server, in a background thread: LIT's
  NotebookWsgiServer (lit_nlp/lib/wsgi_serving.py, what LitWidget expects: `app`,
  `port`, `stop()`), serving with a pool of threads instead of wsgiref's one."""

  def __init__(
    self, wsgi_app, host: str = "localhost", port: int | None = None, *, threads: int, **_
  ):
    super().__init__(wsgi_app, host=host, port=port)
    self._threads = threads
    self._http: ThreadedServer | None = None
    self._thread: threading.Thread | None = None

  @property
  def port(self) -> int:
    if self._http is None:
      raise RuntimeError("Server not started.")
    return self._http.port

  def serve(self) -> None:
    """Starts serving in a thread (returns at once; again: nothing)."""
    if self._http is not None:
      return
    port = self._port if self._port is not None else portpicker.pick_unused_port()
    self._http = ThreadedServer(self._host, port, self._app, threads=self._threads)
    self._thread = threading.Thread(
      target=self._http.serve_forever, daemon=True, name="lit-seqsal-notebook-server"
    )
    self._thread.start()

  def stop(self) -> None:
    """Stops serving and frees the port."""
    if self._http is None:
      return
    self._http.shutdown()  # serve_forever returns, then closes the socket
    if self._thread is not None:
      self._thread.join()
    self._http, self._thread = None, None

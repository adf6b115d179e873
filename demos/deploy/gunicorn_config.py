"""gunicorn settings for a hosted lit-seqsal demo (public, many visitors).

  pip install -e '.[hosted]'
  gunicorn -c demos/deploy/gunicorn_config.py

Models, datasets and limits come from the same flags as the demo server, passed
through the LIT_SEQSAL_ARGS environment variable, for example

  LIT_SEQSAL_ARGS="--models=gemma:bundled --max_input_tokens=768" \
      gunicorn -c demos/deploy/gunicorn_config.py

`get_wsgi_app()` always serves in hosted mode: LIT's demo mode, no endpoint that
reads or writes server paths, and the hosted budgets (every limit has a flag;
see docs/hosting.md).

Sizing (measured on the bundled Gemma 3 270M, float32, a 2-core CPU):
- Memory: each worker loads its own copy of every model: about 2 GiB for the
  bundled model, plus at most --cache_mb and --lit_cache_mb (MiB) of cached
  results per model (256 + 256 when hosted). Plan ~2.5 GiB per worker.
- Workers: one per machine, or per GPU, is usually right: a model runs one
  batch at a time (other requests wait in its queue, --queue_per_model), and
  two workers on the same cores only fight over them. Jobs (/seqsal/jobs) live
  in the worker that started them, so with several workers a load balancer
  must send a job's polls to the same worker (sticky sessions), or run
  several replicas with one worker each behind it.
- Threads: each worker handles THREADS requests at once (default: the
  --server_threads limit, 16; a --server_threads=N in LIT_SEQSAL_ARGS sets it
  too), so a light request reaches the app while heavy work runs, and the
  model lock hands the model to it between units of heavy work (a few
  integration points or occlusion rows, one row of a long prompt; docs/
  hosting.md gives a unit's time). Requests waiting for the model hold
  a thread, so keep more threads than --queue_per_model (8 when hosted) plus a
  few for static files, polls and jobs.
- Timeouts: a request's compute is bounded by --request_time_limit_s (60 s
  when hosted) and a job's by --job_time_limit_s (600 s), so no request
  outlives `timeout`; long work runs as jobs, which HTTP timeouts never cut.
- Several workers (or replicas on one disk) share the converted-model cache
  ($LIT_SEQSAL_CACHE, default ~/.cache/lit_seqsal): the first converts the
  bundled model under a file lock, the others wait for it.
"""

import os
import re
import shlex
import sys

from lit_seqsal.work.limits import HOSTED

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
_args = shlex.split(os.environ.get("LIT_SEQSAL_ARGS", ""))
_threads_flag = [m.group(1) for a in _args if (m := re.fullmatch(r"--server_threads=(\d+)", a))]
threads = int(os.environ.get("THREADS") or (_threads_flag or [HOSTED.server_threads])[-1])
# A worker that stops answering gunicorn's heartbeat for this long is restarted;
# the first start may convert the bundled model (about a minute).
timeout = 180
# On shutdown, requests in flight get this long to finish (they are bounded by
# --request_time_limit_s); jobs are cancelled with the worker.
graceful_timeout = 75
keepalive = 5
# Bounded request lines and headers; bodies are bounded by --max_body_bytes.
limit_request_line = 8190
limit_request_fields = 100
# gunicorn 27's runtime control socket is one per user by default, so two
# servers on one machine would clash; the demo needs none.
control_socket_disable = True
sys.argv = ["gunicorn", *_args]
wsgi_app = "lit_seqsal.demos.lm_salience:get_wsgi_app()"

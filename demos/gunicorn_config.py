"""gunicorn settings for a hosted lit-seqsal demo.

  pip install -e '.[hosted]'
  gunicorn -c demos/gunicorn_config.py

Models and datasets come from the same flags as the demo server, passed through
the LIT_SEQSAL_ARGS environment variable, e.g.
  LIT_SEQSAL_ARGS="--models=gemma:bundled --sequence_length=1024" gunicorn -c demos/gunicorn_config.py
The app runs in LIT's demo mode with the 'load model/dataset from path' menus off,
so visitors cannot make the server read files.
"""

import os
import shlex
import sys

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
# One worker: each worker holds its own copy of the model.
workers = 1
threads = 4
timeout = 600  # the first start may convert the bundled model
sys.argv = ["gunicorn", *shlex.split(os.environ.get("LIT_SEQSAL_ARGS", ""))]
wsgi_app = "lit_seqsal.demos.lm_salience:get_wsgi_app()"

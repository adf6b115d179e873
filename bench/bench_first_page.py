"""Cold first page load of the demo server: process start to first answers.

Starts `python -m lit_seqsal.demos.lm_salience` in a fresh process (the bundled
Gemma 3 270M on the sample prompts) and times, from process start:
  - ready: the server answers /get_info;
  - generations: it has answered /get_preds for the generation model on every
    example of sample_prompts (what LIT's page at /lit/ asks for first);
  - salience: it has also answered one /get_preds for the salience model (the
    first example with a target, every gradient method).
Each phase is also given on its own (seconds since the previous one).

usage: .venv/bin/python bench/bench_first_page.py --dl_framework=kerasnlp [--eager]
  [--dl_runtime=tensorflow] [--port=5478] [other demo flags...]

--eager runs Keras salience op by op instead of compiled (the path before
compilation), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

MODEL = "gemma3_270m"
DATASET = "sample_prompts"
# Runs the demo with Keras salience compilation off (bench --eager).
EAGER_LAUNCHER = (
  "import sys; from lit_seqsal.models import keras_engine;"
  " keras_engine.COMPILED_RUNTIMES = ();"
  " from absl import app; from lit_seqsal.demos import lm_salience;"
  " sys.argv[0] = 'lm_salience'; app.run(lm_salience.main)"
)


def post(url: str, path: str, body=None, timeout: float = 1800):
  req = urllib.request.Request(
    url + path,
    data=json.dumps(body or {}).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
  )
  with urllib.request.urlopen(req, timeout=timeout) as resp:
    return json.loads(resp.read())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--port", type=int, default=5478)
  parser.add_argument("--eager", action="store_true", help="Keras salience op by op (not compiled)")
  parser.add_argument("--log", help="file for the server's output (default: discarded)")
  args, demo_flags = parser.parse_known_args()
  url = f"http://127.0.0.1:{args.port}"
  if args.eager:
    cmd = [sys.executable, "-c", EAGER_LAUNCHER]
  else:
    cmd = [sys.executable, "-m", "lit_seqsal.demos.lm_salience"]
  cmd += [f"--port={args.port}", *demo_flags]
  start = time.perf_counter()
  with open(args.log or os.devnull, "w") as log:  # the server keeps its own copy of the file
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
  try:
    while True:
      if server.poll() is not None:
        raise RuntimeError(f"the server exited with status {server.returncode}")
      try:
        post(url, "/get_info", timeout=5)
        break
      except (urllib.error.URLError, ConnectionError, TimeoutError):
        time.sleep(0.2)
    ready = time.perf_counter() - start
    examples = post(url, f"/get_dataset?dataset_name={DATASET}")
    ids = [ex["data"]["_id"] for ex in examples]
    post(url, f"/get_preds?model={MODEL}&dataset_name={DATASET}", {"inputs": ids})
    generations = time.perf_counter() - start
    with_target = next(ex["data"]["_id"] for ex in examples if ex["data"].get("target"))
    post(
      url, f"/get_preds?model=_{MODEL}_salience&dataset_name={DATASET}", {"inputs": [with_target]}
    )
    salience = time.perf_counter() - start
  finally:
    server.terminate()
    try:
      server.wait(timeout=30)
    except subprocess.TimeoutExpired:
      server.kill()
      server.wait()
    if args.log:
      log.close()
  print(
    json.dumps(
      {
        "examples": len(ids),
        "ready_s": round(ready, 1),
        "generations_s": round(generations, 1),
        "salience_s": round(salience, 1),
      }
    )
  )
  print(
    f"{' '.join(cmd[1:3])} {' '.join(demo_flags)}: ready {ready:.1f} s,"
    f" + generations of {len(ids)} examples {generations - ready:.1f} s,"
    f" + one salience request {salience - generations:.1f} s = {salience:.1f} s"
  )


if __name__ == "__main__":
  main()

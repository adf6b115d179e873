"""Prompt debugging with sequence salience inside a Jupyter or Colab notebook.

    from lit_seqsal import notebook
    widget = notebook.make_notebook_widget(["sample_prompts"], ["gemma3_270m:bundled"])
    widget.render(data=[{"prompt": "..."}])

The keyword arguments are those of LIT's own prompt-debugging helper
(`lit_nlp.examples.prompt_debugging.notebook`); defaults fit the machine the
kernel runs on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lit_nlp import notebook as lit_notebook
from lit_nlp import server_config
from lit_nlp.lib import wsgi_serving

from lit_seqsal import console, options
from lit_seqsal import datasets as seqsal_datasets
from lit_seqsal.models import keras_backend
from lit_seqsal.serving import layouts
from lit_seqsal.serving import lit_server as server


class SalienceWidget(lit_notebook.LitWidget):
  """LIT's notebook widget, serving our client, plus the models and datasets it loaded.

  `render()` shows the lit-seqsal client (LIT's own is at `/lit/` on the same
  port). `widget.datasets["sample_prompts"].examples` lists the loaded
  examples, so a notebook can look one up by its `source`; `widget.stop()`
  shuts the server down and frees its port.
  """

  def __init__(
    self,
    *,
    models: Mapping,
    datasets: Mapping,
    height: int = 1000,
    render: bool = False,
    proxy_url: str | None = None,
    warm_start: bool = False,
    **kwargs,
  ):
    # LitWidget.__init__ builds LIT's own Server; this builds ours, with the
    # same notebook settings, and reuses LitWidget's render() and stop().
    self.models = dict(models)
    self.datasets = dict(datasets)
    # LIT's server settings, of many types (LIT's Server and our SalienceApp check them).
    options: dict[str, Any] = dict(server_config.get_flags())
    options.update(
      server_type="notebook",
      host="localhost",
      port=None,
      warm_start=1 if warm_start else 0,
      warm_start_progress_indicator=lit_notebook.progress_indicator,
      sync_state=True,
    )
    options.update(kwargs)
    served = server.Server(models=self.models, datasets=self.datasets, **options).serve()
    if not isinstance(served, wsgi_serving.NotebookWsgiServer):
      raise RuntimeError(
        f"LIT did not start its notebook server (server_type={options['server_type']!r})."
      )
    self._server = served
    self._height = height
    self._proxy_url = proxy_url
    if render:
      self.render()

  @property
  def port(self) -> int:
    port = self._server.port  # picked when it started serving
    if port is None:
      raise RuntimeError("LIT's notebook server is not serving.")
    return port

  @property
  def url(self) -> str:
    return f"http://localhost:{self.port}/"


def make_notebook_widget(
  datasets_config: Sequence[str],
  models_config: Sequence[str],
  *,
  batch_size: int = options.DEFAULTS.batch_size,
  dl_framework: str | None = None,
  dl_runtime: str | None = options.DEFAULTS.dl_runtime,
  max_examples: int | None = seqsal_datasets.DEFAULT_MAX_EXAMPLES,
  precision: str = options.DEFAULTS.precision,
  device: str = options.DEFAULTS.device,
  chat_template: str = options.DEFAULTS.chat_template,
  stop_sequences: Sequence[str] = options.DEFAULTS.stop_sequences,
  max_length: int | None = options.DEFAULTS.max_length,
  max_new_tokens: int = options.DEFAULTS.max_new_tokens,
  sampler: str = options.DEFAULTS.sampler,
  **kwargs,
) -> SalienceWidget:
  """Loads models and datasets and starts a LIT server for this notebook.

  Args:
    datasets_config: "sample_prompts" or "NAME:PATH" entries (.jsonl or .txt).
    models_config: "NAME:PATH" entries; PATH is "bundled", a local directory
      (Keras preset or Hugging Face format), a .tar.gz of one, or a preset name
      such as "gemma2_instruct_2b_en" (Kaggle access needed) for keras-hub.
    batch_size: examples per model call.
    dl_framework: "kerasnlp" (or "kerashub"), "transformers" or "auto" (as the
      server: Keras for keras-hub presets, else transformers); default
      kerasnlp, as LIT's helper, or auto (said) when Keras is not installed
      (pip install 'lit-seqsal[keras]'), where a keras-hub preset name fails
      at once saying what to install.
    dl_runtime: "tensorflow", "torch" or "jax" for Keras (default tensorflow),
      "torch" for transformers. Keras fixes its runtime when first imported:
      to switch, restart the kernel.
    max_examples: at most this many examples per dataset.
    precision: "auto" (bfloat16 on a GPU, float32, exact, on a CPU), "float32"
      or "bfloat16".
    device: where a Transformers model runs: "auto" (a CUDA GPU, else Apple's
      MPS, else the CPU), "cpu", "cuda", "cuda:N" or "mps". Keras follows its
      runtime.
    chat_template: "auto" (prompts of instruction-tuned models go in as a user
      turn of their chat template) or "none".
    stop_sequences: texts that end every generation at their first occurrence.
    max_length: longest prompt + target (or generation) in tokens; None (the
      default): the model's context window, within what fits in memory.
    max_new_tokens: longest generation in tokens.
    sampler: keras-hub sampler for generation ("greedy" by default).
    **kwargs: passed to LIT's LitWidget and LitApp (height, render, proxy_url,
      warm_start, ...), and `threads`: requests the widget's server handles at
      once (default 16; lit_seqsal/serving/http_servers.py).

  Returns:
    A SalienceWidget; call `widget.render(data=[{"prompt": ...}])` to show it.
  """
  if dl_framework is None:
    dl_framework = options.NOTEBOOK_DL_FRAMEWORK
    if keras_backend.missing_packages(dl_runtime):
      # The server's rule: keras-hub presets need Keras (and say how to get it).
      dl_framework = options.AUTO_FRAMEWORK
      console.say(
        "Keras is not installed here, so the widget loads the models with"
        f" transformers (for Keras: {keras_backend.INSTALL_KERAS})."
      )
  opts = options.ModelOptions(
    dl_framework=dl_framework,
    dl_runtime=dl_runtime,
    precision=precision,
    device=device,
    batch_size=batch_size,
    max_length=max_length,
    max_new_tokens=max_new_tokens,
    sampler=sampler,
    chat_template=chat_template,
    stop_sequences=tuple(stop_sequences),
  )
  app = server.lit_app_kwargs(
    models_config=models_config,
    datasets_config=datasets_config,
    max_examples=max_examples,
    opts=opts,
  )
  kwargs.setdefault("default_layout", layouts.LEFT_RIGHT)
  kwargs.setdefault("client_root", server.LIT_CLIENT_ROOT)
  kwargs.setdefault("page_title", "LM Sequence Salience")
  return SalienceWidget(**app, **kwargs)

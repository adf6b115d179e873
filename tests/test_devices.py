"""Devices: --device resolution, precision by device, and every engine path on an
explicit device (the CUDA case runs only where a GPU is visible)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_seqsal import models, options
from lit_seqsal.components import interpreters
from lit_seqsal.models import devices
from tests.helpers import greedy_reference

PROMPT = "Taste-likes: Cheese\nSuggestion: Onion soup\nAnalysis:"
TARGET = " it has onions.\nRecommendation: Avoid."


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
  monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
  assert devices.resolve_device("auto") == "cuda"
  monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
  monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
  assert devices.resolve_device("auto") == "mps"
  monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
  assert devices.resolve_device("auto") == "cpu"
  assert devices.resolve_device("cpu") == "cpu"


def test_bad_or_missing_devices_are_clear_errors(monkeypatch):
  for bad in ("gpu", "cuda:x", "tpu", ""):
    with pytest.raises(ValueError, match="allowed values: auto, cpu, cuda, cuda:N or mps"):
      devices.resolve_device(bad)
  monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
  with pytest.raises(ValueError, match="no CUDA GPU is visible"):
    devices.resolve_device("cuda:1")
  monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
  monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
  with pytest.raises(ValueError, match="only 1 CUDA GPU"):
    devices.resolve_device("cuda:1")
  with pytest.raises(ValueError, match="apply to dl_framework=transformers"):
    options.ModelOptions(dl_framework="kerasnlp", device="cuda").checked()
  with pytest.raises(ValueError, match=r"device_map.*allowed values: none, auto"):
    options.ModelOptions(device_map="balanced").checked()


def test_precision_follows_the_device():
  assert devices.default_precision(True) == "bfloat16"
  assert devices.default_precision(False) == "float32"
  assert options.DEFAULTS.precision == "auto" and options.DEFAULTS.device == "auto"


DEVICES = [
  "cpu",
  pytest.param(
    "cuda",
    marks=pytest.mark.skipif(
      not torch.cuda.is_available(),
      reason="no CUDA GPU visible: the GPU path runs on a GPU machine",
    ),
  ),
]


@pytest.mark.parametrize("device", DEVICES)
def test_every_engine_path_on_an_explicit_device(tiny_model_dir, device, capsys):
  group = models.load_model_group(
    "d", tiny_model_dir, device=device, batch_size=2, max_length=256, max_new_tokens=6
  )
  engine = group["d"].engine
  assert engine.device.type == device
  expected = "float32" if device == "cpu" else "bfloat16"
  assert engine.precision == expected
  assert f"on {device}, {expected}" in capsys.readouterr().out  # said at start
  ex = {"prompt": PROMPT, "target": TARGET}
  assert group["d"].predict([{"prompt": PROMPT}])[0]["response"] == greedy_reference(
    engine, engine.encode(PROMPT), engine.max_new_tokens
  )
  (out,) = group["_d_salience"].predict(
    [ex | {"salience_methods": ["grad_l2", "integrated_gradients", "occlusion"], "ig_steps": 4}]
  )
  for method in ("grad_l2", "integrated_gradients", "occlusion"):
    assert out[method].dtype == np.float32 and np.isfinite(out[method]).all()
    assert np.abs(out[method]).max() > 0
  (contrast,) = group["_d_salience"].predict([ex | {"foil": " Try it."}])
  assert np.abs(contrast["grad_l2"]).max() > 0
  (smap,) = interpreters.SalienceMapInterpreter().run([ex], group["d"], None)
  assert np.isfinite(np.asarray(smap["grad_l2"].salience)).all()

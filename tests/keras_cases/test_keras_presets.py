"""keras-hub's preset names, as lit-seqsal reads them without importing Keras."""

from __future__ import annotations

from keras_hub.src.utils import preset_utils

from lit_seqsal.models import loading


def test_preset_names_are_keras_hubs_own():
  """What keras-hub registers at import (its from_preset's list) equals what we
  read from its files, and the snapshot shipped for machines without keras-hub."""
  registered = set(preset_utils.BUILTIN_PRESETS)
  assert "gemma2_instruct_2b_en" in registered
  assert loading.installed_keras_presets() == registered
  assert loading.snapshot_keras_presets() == registered, (
    "lit_seqsal/data/keras_hub_presets.txt is out of date: write sorted("
    "loading.installed_keras_presets()) into it, one name a line"
  )

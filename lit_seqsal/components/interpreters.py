"""LIT interpreters over our model groups: salience map, integrated gradients, occlusion.

They accept any model of a group (`NAME`, `_NAME_salience`, `_NAME_tokenizer`)
and work through the group's engine, so they serve every framework. What is
explained, in order of precedence: the input's `target_mask` over prompt +
target; the `target_text` in the config (LIT's legacy sequence-salience module
sends it as a one-element list); the input's `target`; the model's own
generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from lit_nlp.api import components as lit_components
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import dtypes
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from lit_seqsal import inputs as input_checks
from lit_seqsal import tokens as token_display
from lit_seqsal.contract import FieldNames
from lit_seqsal.models import lit_models
from lit_seqsal.salience import attribution, methods, occlusion
from lit_seqsal.work import units
from lit_seqsal.work.progress import ProgressCallback

JsonDict = lit_types.JsonDict


def _lit_salience(values: np.ndarray) -> Sequence[Any]:
  """Scores as LIT's salience dtypes hold them. They declare Sequence[float] (and
  Sequence[Sequence[float]]) but take numpy arrays, as LIT's own interpreters pass
  them ("usually, a np.ndarray", lit_nlp/api/dtypes.py); its serializer lists them."""
  return cast(Sequence[Any], values)


# LIT's legacy sequence-salience module asks for the interpreter by this name.
SALIENCE_MAP = "sequence_salience"
INTEGRATED_GRADIENTS = "LM Integrated Gradients"
OCCLUSION = "LM Segment Occlusion"


def _group(model: lit_model.Model) -> lit_models.ModelGroup:
  group = lit_models.group_of(model)
  if group is None:
    raise ValueError(
      f"{type(model).__name__} is not a lit-seqsal model group member; these"
      " interpreters need a model loaded by lit_seqsal.models."
    )
  return group


def _target_text(
  example: JsonDict,
  index: int,
  config: JsonDict,
  model_output: JsonDict | None,
  group: lit_models.ModelGroup,
) -> str:
  texts = config.get("target_text")
  if isinstance(texts, str):
    texts = [texts]
  if texts is not None and (
    not isinstance(texts, list) or not all(isinstance(t, str) for t in texts)
  ):
    raise input_checks.InputError(
      "Config 'target_text' must be a text or a list of texts (one per input)."
    )
  if texts:
    return texts[min(index, len(texts) - 1)]
  if example.get(FieldNames.TARGET):
    return input_checks.target_of(example)
  if model_output and isinstance(model_output.get(FieldNames.RESPONSE), str):
    return model_output[FieldNames.RESPONSE]
  (generated,) = group.generation.predict([{FieldNames.PROMPT: example.get(FieldNames.PROMPT)}])
  return generated[FieldNames.RESPONSE]


def _explained(
  inputs: Sequence[JsonDict],
  model_outputs: Sequence[JsonDict] | None,
  config: JsonDict,
  group: lit_models.ModelGroup,
) -> list[tuple[tuple[int, ...], Any]]:
  """(ids, mask) per input, with the target filled in as the module doc says."""
  out = []
  for i, ex in enumerate(inputs):
    ex = dict(ex)
    if input_checks.is_empty(ex.get(FieldNames.TARGET_MASK)):
      output = model_outputs[i] if model_outputs else None
      ex[FieldNames.TARGET] = _target_text(ex, i, config, output, group)
      if not ex[FieldNames.TARGET]:
        raise input_checks.InputError(
          f"Example {i}: the output to explain is empty (no target text and the"
          " model generated nothing). Give a target text to explain."
        )
    encoded = lit_models.encode_within_budget(group.engine, ex, i)
    out.append((encoded.ids, encoded.mask))
  return out


def _known_without_generating(inputs: Sequence[dict], config: dict) -> bool:
  """Whether every input's output to explain is known before any generation."""
  return bool(config.get("target_text")) or all(
    not input_checks.is_empty(ex.get(FieldNames.TARGET_MASK)) or ex.get(FieldNames.TARGET)
    for ex in inputs
  )


class _GroupInterpreter(lit_components.Interpreter):
  """Compatible with every model of one of our groups."""

  def __init__(self, progress: ProgressCallback | None = None):
    self._progress = progress

  def is_compatible(self, model: lit_model.Model, dataset: lit_dataset.Dataset) -> bool:
    del dataset  # salience comes from the model alone
    return lit_models.group_of(model) is not None

  def estimate(self, inputs: Sequence[dict], model: lit_model.Model, config: dict | None = None):
    """The model work run() would do, before it runs (lit_seqsal/work/units.py);
    None when it is not known (the output to explain must be generated first)."""
    config = config or {}
    if not _known_without_generating(inputs, config):
      return None
    group = _group(model)
    return self._cost(group.engine, _explained(inputs, None, config, group), config)

  def _cost(self, engine, explained, config: dict) -> units.Cost | None:
    del engine, explained, config
    return None


class SalienceMapInterpreter(_GroupInterpreter):
  """Salience of every output token with respect to every earlier token.

  Output tokens are the target (or the model's generation); each row of the
  map is the gradient salience of one output token's log-probability, in the
  shape of LIT's SequenceSalienceMap ([outputs, prompt + outputs]). Output
  tokens are processed in chunks of `chunk_size` (one forward pass each), which
  bounds memory; progress goes to the server log.
  """

  def config_spec(self) -> lit_types.Spec:
    return {
      "chunk_size": lit_types.Integer(
        default=attribution.DEFAULT_MAP_CHUNK, min_val=1, max_val=1024, required=False
      )
    }

  def meta_spec(self) -> lit_types.Spec:
    return {
      m.name: lit_types.SequenceSalience(autorun=True, signed=m.signed)
      for m in methods.gradient_methods()
    }

  def estimate(self, inputs, model, config=None):
    unmasked = [{k: v for k, v in ex.items() if k != FieldNames.TARGET_MASK} for ex in inputs]
    return super().estimate(unmasked, model, config)

  def _cost(self, engine, explained, config):
    chunk = config.get("chunk_size", attribution.DEFAULT_MAP_CHUNK)
    cost = units.Cost()
    for ids, mask in explained:
      cost += attribution.salience_map_cost(engine, ids, int(mask.nonzero()[0][0]), chunk)
    return cost

  def run(self, inputs, model, dataset, model_outputs=None, config=None):
    del dataset
    config = config or {}
    chunk = config.get("chunk_size", attribution.DEFAULT_MAP_CHUNK)
    group = _group(model)
    # The map covers everything after the prompt, not a mask's selection.
    unmasked = [{k: v for k, v in ex.items() if k != FieldNames.TARGET_MASK} for ex in inputs]
    results = []
    for ids, mask in _explained(unmasked, model_outputs, config, group):
      first_output = int(mask.nonzero()[0][0])
      maps = attribution.salience_map(
        group.engine,
        ids,
        first_output,
        methods.gradient_reductions(),
        chunk_size=chunk,
        progress=self._progress,
      )
      tokens = group.engine.token_strings(ids)
      results.append(
        {
          method: dtypes.SequenceSalienceMap(
            tokens_in=tokens[:first_output],
            tokens_out=tokens[first_output:],
            salience=_lit_salience(values),
          )
          for method, values in maps.items()
        }
      )
    return results


class IntegratedGradientsInterpreter(_GroupInterpreter):
  """Integrated gradients of the target log-likelihood (see attribution.py).

  Baseline: the target's context (tokens after BOS, before the first target
  token) with input embeddings scaled by 0.01; `steps` Gauss-Legendre points.
  Also returns each input's completeness check: the sum of attributions and the
  log-likelihood change from baseline to input.
  """

  def config_spec(self) -> lit_types.Spec:
    return {methods.IG_STEPS.config_key: methods.IG_STEPS.lit_type()}

  def meta_spec(self) -> lit_types.Spec:
    return {
      FieldNames.INTEGRATED_GRADIENTS: lit_types.TokenSalience(autorun=False, signed=True),
      "attribution_sum": lit_types.Scalar(),
      "log_likelihood_change": lit_types.Scalar(),
    }

  def _cost(self, engine, explained, config):
    steps = int(methods.IG_STEPS.value_in(config, methods.IG_STEPS.config_key))
    rows = [(ids, mask[None]) for ids, mask in explained]
    return attribution.integrated_gradients_cost(engine, rows, steps)

  def run(self, inputs, model, dataset, model_outputs=None, config=None):
    del dataset
    config = config or {}
    steps = methods.IG_STEPS.whole_number_in(config, methods.IG_STEPS.config_key)
    group = _group(model)
    explained = _explained(inputs, model_outputs, config, group)
    results = attribution.integrated_gradients(
      group.engine,
      [(ids, mask[None]) for ids, mask in explained],
      steps=steps,
      progress=self._progress,
    )
    return [
      {
        FieldNames.INTEGRATED_GRADIENTS: dtypes.TokenSalience(
          group.engine.token_strings(ids), r.scores[0]
        ),
        "attribution_sum": float(r.scores[0].sum()),
        "log_likelihood_change": float(r.log_likelihood[0] - r.baseline_log_likelihood[0]),
      }
      for (ids, _), r in zip(explained, results)
    ]


class OcclusionInterpreter(_GroupInterpreter):
  """Segment occlusion: how much the target's log-likelihood drops when each
  word / sentence / line / paragraph before it is deleted. One forward pass
  per segment (batched; all-spans occlusion, lit_seqsal/salience/occlusion.py,
  sharing its deletion tables with the salience model's `occlusion` field).

  Returns token scores (each segment's score spread evenly over its tokens, so
  summing a segment's tokens gives its score) and the segments themselves.
  """

  def config_spec(self) -> lit_types.Spec:
    setting = methods.OCCLUSION_GRANULARITY
    return {setting.config_key: setting.lit_type()}

  def meta_spec(self) -> lit_types.Spec:
    # Outputs also carry "segments": [{start, end, text, score}], which has no LIT type.
    return {FieldNames.OCCLUSION: lit_types.TokenSalience(autorun=False, signed=True)}

  def _cost(self, engine, explained, config):
    setting = methods.OCCLUSION_GRANULARITY
    granularity = str(setting.value_in(config, setting.config_key))
    return occlusion.all_spans_cost(
      engine, [(ids, mask[None]) for ids, mask in explained], granularity
    )

  def run(self, inputs, model, dataset, model_outputs=None, config=None):
    del dataset
    config = config or {}
    setting = methods.OCCLUSION_GRANULARITY
    granularity = setting.choice_in(config, setting.config_key)
    group = _group(model)
    explained = _explained(inputs, model_outputs, config, group)
    results = occlusion.all_spans(
      group.engine,
      [(ids, mask[None]) for ids, mask in explained],
      granularity,
      cache=group.salience.cache,
      progress=self._progress,
    )
    outputs = []
    for (ids, _), (occ,) in zip(explained, results):
      tokens = group.engine.token_strings(ids)
      outputs.append(
        {
          FieldNames.OCCLUSION: dtypes.TokenSalience(tokens, _lit_salience(occ.scores)),
          "segments": [
            {
              "start": a,
              "end": b,
              "text": token_display.token_text("".join(tokens[a:b])),
              "score": float(score),
            }
            for (a, b), score in zip(occ.segments, occ.segment_scores)
          ],
        }
      )
    return outputs


def seqsal_interpreters(
  progress: ProgressCallback | None = None,
) -> dict[str, lit_components.Interpreter]:
  """Our interpreters by the names LIT lists them under."""
  return {
    SALIENCE_MAP: SalienceMapInterpreter(progress),
    INTEGRATED_GRADIENTS: IntegratedGradientsInterpreter(progress),
    OCCLUSION: OcclusionInterpreter(progress),
  }

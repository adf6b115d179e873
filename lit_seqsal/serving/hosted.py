"""What a public demo offers of LIT's own components, beside our interpreters.

Generation metrics and text perturbations (their configs are typed, checked by
lit_seqsal/serving/validation.py); not the embedding projections: each distinct
config trains and keeps a projector over the whole dataset's generations.
"""

from __future__ import annotations

from lit_nlp.components import core

from lit_seqsal.components import interpreters as ours

HOSTED_GENERATORS = ("Scrambler", "Word Replacer")
HOSTED_METRICS = ("bleu", "rouge", "exactmatch")


def hosted_components(models, interpreters) -> dict:
  """LIT's default components, less those a public demo does not need."""
  interpreters = interpreters if interpreters is not None else core.default_interpreters(models)
  keep = {ours.SALIENCE_MAP, ours.INTEGRATED_GRADIENTS, ours.OCCLUSION}
  return dict(
    interpreters={k: v for k, v in interpreters.items() if k in keep},
    generators={k: v for k, v in core.default_generators().items() if k in HOSTED_GENERATORS},
    metrics={k: v for k, v in core.default_metrics().items() if k in HOSTED_METRICS},
  )

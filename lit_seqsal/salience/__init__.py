"""Salience methods, written once over the engine primitives (lit_seqsal/engine/base.py).

`methods.py` is the registry: every method's name, sign, cost class, settings
and compute function. The math lives beside it: `gradients.py` (grad_l2,
grad_dot_input and any reduction of the input-embedding gradient),
`attribution.py` (integrated gradients, occlusion, the salience map),
`segmentation.py` (words, sentences, lines, paragraphs from token strings) and
`progress.py` (progress of long runs).
"""

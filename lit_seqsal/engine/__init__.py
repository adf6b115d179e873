"""The engine layer: one loaded LM behind one interface (lit_seqsal/engine/base.py).

- `base.py`: `LMEngine`, the interface a framework implements, and `Objectives`;
- `batching.py`: rows of (ids, masks) packed into a `SalienceBatch`;
- `encoding.py`: a LIT example to token ids and the mask to explain;
- `generation.py`: batching prompts and cutting generations at stops.
"""

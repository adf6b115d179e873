"""Salience over a whole dataset: the batch command's parts (issue 17).

- `results.py`: the results file (one JSON line per example): reading it back,
  repairing an interrupted write, appending whole lines, what is already done;
- `spans.py`: what each example explains (its target or the model's
  generation, optionally one output line picked by a regular expression);
- `run.py`: examples in, records out: batching by length, per-example errors,
  the local loop with its progress bar;
- `ray_run.py`: the same chunks on a Ray cluster (optional extra `.[ray]`);
- `regions.py`: parts of a prompt template and their share of salience,
  aggregated over the examples;
- `report.py`: the region table, its JSON and the standalone HTML report.

The command itself is `lit_seqsal/attribute.py` (`python -m lit_seqsal.attribute`).
"""

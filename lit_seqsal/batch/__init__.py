"""Salience over a whole dataset: the batch command and its parts.

- `command.py`: the command's flags and main (`python -m lit_seqsal.attribute`);
- `config.py`: what a run explains, with which models, methods and settings;
- `examples.py`: datasets read line by line into tasks, chunks of similar length;
- `chunk.py`: one chunk in three phases (the output to explain, the salience
  model's inputs, the records);
- `run.py`: the run: planning (resume), computing chunks here or elsewhere,
  writing, finalising the regions;
- `ray_run.py`: the same chunks on a Ray cluster (optional extra `.[ray]`);
- `results.py`: the results file (one JSON line per example): reading it back,
  repairing an interrupted write, appending whole lines;
- `spans.py`: what each example explains (its target or the model's
  generation, optionally one output line picked by a regular expression);
- `regions.py`: parts of a prompt template and their share of salience;
- `report.py`: the region table, its JSON and the standalone HTML report.
"""

"""How requests, jobs and batch runs share a model: the unit of work and its budgets.

- `context.py`: `Work` (budgets, priority, deadline, cancel, progress) in a
  context variable; `current()`, `running()`, `heavy()`;
- `model_lock.py`: the per-model lock handed over by priority;
- `admission.py`: `Gate`, how many may wait for one model;
- `limits.py`: the server's budgets and their flags;
- `progress.py`: progress of long computations (logs, jobs, terminals);
- `cache.py`: the byte-bounded LRU cache.

The names most code needs are re-exported here: `work.current()`,
`work.heavy()`, `work.Work`.
"""

from lit_seqsal.work.context import HEAVY, LIGHT, Work, current, heavy, running

__all__ = ["HEAVY", "LIGHT", "Work", "current", "heavy", "running"]

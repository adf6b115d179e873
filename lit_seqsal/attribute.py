r"""`python -m lit_seqsal.attribute`: salience over whole datasets (the batch command).

  python -m lit_seqsal.attribute --datasets=sample_prompts --out=results.jsonl \
      --explain=target --span='^Recommendation:' --granularity=sentences

Also installed as `lit-seqsal-attribute`. The command, its flags and what it
writes: lit_seqsal/batch/command.py and docs/batch.md.
"""

from lit_seqsal.batch.command import main, run_main

__all__ = ["main", "run_main"]

if __name__ == "__main__":
  run_main()

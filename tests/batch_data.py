"""Examples for the batch command's tests: few-shot prompts of one template."""

from __future__ import annotations

import json
from pathlib import Path

from lit_seqsal.options import ModelOptions

OPTIONS = ModelOptions(batch_size=3, max_length=256)  # as the tiny_group fixture

FOODS = [
  "Onion soup",
  "Quiche Lorraine",
  "Macaron in france",
  "Baguette maison au levain",
  "Cheese",
  "Savoury tart with eggs and cheese",
  "Sweet bread",
  "Garlic bread",
  "Tart",
]


def template_examples(n: int = 9) -> list[dict]:
  """Few-shot prompts of one template (different lengths), with targets of two lines."""
  out = []
  for i in range(n):
    food, other = FOODS[i % len(FOODS)], FOODS[(i + 3) % len(FOODS)]
    prompt = (
      f"Analyze a menu item.\n\nSuggestion: {other}\nAnalysis: it is great."
      f"\nRecommendation: Likely good.\n\nSuggestion: {food}"
      + " in france" * (i % 4)
      + "\nAnalysis:"
    )
    target = f" it has cheese.\nRecommendation: {'Avoid' if i % 2 else 'You have to try it'}."
    out.append({"source": f"menu-{i}", "prompt": prompt, "target": target})
  return out


def write_jsonl(path: Path, rows) -> str:
  path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
  return str(path)

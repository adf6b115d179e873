"""What a batch run reports: the region table (printed), its JSON, and an HTML report.

With --check, also the deletion checks' aggregate (`check_aggregate`): per
model and checked method, how many explanations were supported, weak or not
supported, and the mean drops behind them.

The HTML report is one standalone file (no script, no network): per model and
method a bar chart of each region's mean share of salience (with its
interquartile range) and how often it is the top region, a table with the
examples where each region's share is highest and lowest, each linked to that
example's view further down the page: the prompt and output in segments,
coloured as the client colours them (the same scales and rules as
lit_seqsal/client/src/colors.ts and pane_view.ts; a test compares them).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable, Sequence

from lit_seqsal.batch import regions as regions_lib

# -- the client's colour scales (lit_seqsal/client/src/colors.ts) --------------------

_SEQUENTIAL = [
  (255, 255, 255),
  (222, 235, 247),
  (158, 202, 225),
  (66, 146, 198),
  (8, 81, 156),
  (8, 48, 107),
]
_NEGATIVE = [
  (255, 255, 255),
  (216, 218, 235),
  (178, 171, 210),
  (128, 115, 172),
  (100, 60, 150),
  (45, 0, 75),
]
_POSITIVE = [
  (255, 255, 255),
  (250, 214, 170),
  (230, 170, 90),
  (200, 112, 20),
  (150, 62, 5),
  (70, 20, 0),
]


def _js_round(x: float) -> int:
  return math.floor(x + 0.5)


def _interpolate(stops, t: float) -> tuple[int, int, int]:
  x = min(1.0, max(0.0, t)) * (len(stops) - 1)
  i = min(len(stops) - 2, math.floor(x))
  f = x - i
  a, b = stops[i], stops[i + 1]
  red, green, blue = (_js_round(a[k] + (b[k] - a[k]) * f) for k in range(3))
  return red, green, blue


def shown_fraction(value: float, max_value: float, intensity: float = 0.5) -> float:
  t = min(1.0, abs(value) / (max_value or 1))
  return t ** (2 ** (2 * (0.5 - intensity)))


def color_for(value: float, max_value: float, signed: bool, intensity: float = 0.5) -> str:
  t = shown_fraction(value, max_value, intensity)
  stops = _SEQUENTIAL if not signed else _NEGATIVE if value < 0 else _POSITIVE
  r, g, b = _interpolate(stops, t)
  return f"rgb({r}, {g}, {b})"


def _relative_luminance(r: int, g: int, b: int) -> float:
  """WCAG 2.1 relative luminance of an sRGB colour."""

  def linear(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def text_color_for(background: str) -> str:
  """Dark or white text, whichever contrasts more (the client's colors.textColorFor)."""
  r, g, b = (int(v) for v in background[4:-1].split(","))
  lum = _relative_luminance(r, g, b)
  # Contrast with white, (1 + 0.05) / (lum + 0.05), against black, (lum + 0.05) / 0.05.
  return "#ffffff" if 1.05 / (lum + 0.05) > (lum + 0.05) / 0.05 else "#000000"


# -- one example as the client shows it -----------------------------------------------


def example_view(record: dict, method: str) -> dict:
  """Segments with their values and colours, as the client's pane shows the record's
  span explained by `method` (pane_view.ts: paneView and chips)."""
  scores = record["salience"][method]["tokens"]
  segs = record["segments"]
  values = record["salience"][method]["segments"]
  prompt_length, span = record["prompt_length"], record["span"]
  # The selection: the output segments covering the explained span.
  output = [k for k, s in enumerate(segs) if s["start"] >= prompt_length]
  lo = next((k for k in output if segs[k]["start"] <= span["start"] < segs[k]["end"]), -1)
  hi = next((k for k in output if segs[k]["start"] <= span["end"] - 1 < segs[k]["end"]), lo)
  coloured = [s["start"] < prompt_length or (lo >= 0 and k < lo) for k, s in enumerate(segs)]

  # aggregate.ts scaleMax: the largest |value|, 1 when all are 0.
  def scale_max(vs) -> float:
    return max([abs(v) for v in vs] + [0.0]) or 1.0

  prompt_values = [v for v, s in zip(values, segs) if s["start"] < prompt_length]
  visible = [values[k] for k in output if coloured[k]]
  max_value = max(scale_max(prompt_values), scale_max(visible) if visible else 0.0)
  signed = any(s < 0 for s in scores)
  chips = []
  for k, (seg, value) in enumerate(zip(segs, values)):
    role = "prompt" if seg["start"] < prompt_length else "output"
    chips.append(
      {
        "text": seg["text"],
        "role": role,
        "value": value,
        "scored": coloured[k],
        "selected": lo >= 0 and lo <= k <= hi,
        "after": lo >= 0 and k > hi and role == "output",
        "color": color_for(value, max_value, signed) if coloured[k] else "rgb(255, 255, 255)",
      }
    )
  return {"chips": chips, "max": max_value, "signed": signed}


# -- the printed table and the JSON ----------------------------------------------------


def summary(
  records: Sequence[dict], *, seconds: float | None = None, computed: int | None = None
) -> dict:
  """What the run produced: counts, errors by kind, and the region aggregate."""
  ok = [r for r in records if "error" not in r]
  errors = [r for r in records if "error" in r]
  by_kind: dict[str, dict] = {}
  for r in errors:
    kind = r["error"].get("kind", "Error")
    entry = by_kind.setdefault(kind, {"count": 0, "examples": []})
    entry["count"] += 1
    if len(entry["examples"]) < 5:
      entry["examples"].append(
        {"id": r["id"], "model": r.get("model", ""), "message": r["error"].get("message", "")}
      )
  method_errors: dict[str, int] = {}
  for r in ok:
    for e in r.get("errors", ()):
      method_errors[e.get("method", "?")] = method_errors.get(e.get("method", "?"), 0) + 1
  aggregate = regions_lib.aggregate(ok)
  checks = check_aggregate(ok)
  out = {
    "examples": len(ok),
    "errors": len(errors),
    "errors_by_kind": by_kind,
    "method_errors": method_errors,
    "regions_spec": next((r["regions"]["spec"] for r in ok if r.get("regions")), []),
    "regions": {
      model: {
        method: {"examples": v["examples"], "regions": [s.as_json() for s in v["regions"]]}
        for method, v in methods.items()
      }
      for model, methods in aggregate.items()
    },
  }
  if checks:
    out["checks"] = checks
  if seconds is not None:
    out["seconds"] = seconds
  if computed is not None:
    out["computed_this_run"] = computed
  return out


VERDICTS = ("supported", "weak", "not supported", None)


def _verdict_name(verdict) -> str:
  return "too few segments" if verdict is None else verdict


def check_aggregate(records: Sequence[dict]) -> dict:
  """The deletion checks of the records, per model and checked method (and
  granularity): verdict counts, and per k the mean drop in the span's
  log-probability (nats) from deleting the top, random and lowest-ranked
  segments, the mean excess over random and how often top beat random."""
  groups: dict[tuple, list[dict]] = {}
  for r in records:
    c = r.get("check")
    if isinstance(c, dict):
      groups.setdefault((r.get("model", ""), c["method"], c["granularity"]), []).append(c)
  out: dict[str, list[dict]] = {}
  for (model, method, granularity), checks in groups.items():
    counts = {_verdict_name(v): sum(1 for c in checks if c["verdict"] == v) for v in VERDICTS}
    by_k = []
    for k in sorted({e["k"] for c in checks for e in c["by_k"]}):
      entries = [e for c in checks for e in c["by_k"] if e["k"] == k]

      def mean(values) -> float:
        values = list(values)
        return sum(values) / len(values)

      by_k.append(
        {
          "k": k,
          "examples": len(entries),
          "top_drop": mean(e["top"]["drop"] for e in entries),
          "random_drop": mean(e["random"]["drop_mean"] for e in entries),
          "lowest_drop": mean(e["lowest"]["drop"] for e in entries),
          "excess": mean(e["excess"] for e in entries),
          "beats_random": mean(1.0 if e["beats_random"] else 0.0 for e in entries),
        }
      )
    out.setdefault(model, []).append(
      {
        "method": method,
        "granularity": granularity,
        "examples": len(checks),
        "verdicts": counts,
        "by_k": by_k,
      }
    )
  return out


def _check_lines(checks: dict) -> list[str]:
  lines = []
  for model, entries in checks.items():
    for entry in entries:
      n = entry["examples"]
      counts = ", ".join(
        f"{name} {count} ({100 * count / n:.0f}%)" for name, count in entry["verdicts"].items()
      )
      lines.append(
        f"{model} · check of {entry['method']} at {entry['granularity']}, {n} examples: {counts}"
      )
      lines.append(
        "  k   top drop  random drop  lowest drop   excess  beats random   (drops: nats)"
      )
      for e in entry["by_k"]:
        lines.append(
          f"  {e['k']}  {e['top_drop']:9.3f}  {e['random_drop']:11.3f}  {e['lowest_drop']:11.3f}"
          f"  {e['excess']:7.3f}  {100 * e['beats_random']:11.0f}%"
        )
      lines.append("")
  return lines


def table(summary_json: dict) -> str:
  """The region table, one block per model and method, and the checks'
  aggregate, for the terminal."""
  lines = _check_lines(summary_json.get("checks") or {})
  for model, methods in summary_json["regions"].items():
    for method, entry in methods.items():
      lines.append(
        f"{model} · {method}: share of the prompt's salience (|score|) per region,"
        f" {entry['examples']} examples"
      )
      width = max([len(s["name"]) for s in entry["regions"]] + [6])
      lines.append(
        f"  {'region':<{width}}  {'mean':>6}  {'std':>6}  {'p25':>6}  {'median':>6}"
        f"  {'p75':>6}  {'top':>5}  {'n':>5}"
      )
      for s in entry["regions"]:
        lines.append(
          f"  {s['name']:<{width}}  {s['mean']:6.3f}  {s['std']:6.3f}  {s['p25']:6.3f}"
          f"  {s['median']:6.3f}  {s['p75']:6.3f}  {100 * s['top_fraction']:4.0f}%"
          f"  {s['examples']:5d}"
        )
      lines.append("")
  if not summary_json["regions"]:
    lines.append("No regions (--regions) to report.")
  errors = summary_json["errors"]
  lines.append(f"{summary_json['examples']} examples explained, {errors} errors.")
  for kind, entry in summary_json["errors_by_kind"].items():
    first = entry["examples"][0]
    lines.append(f"  {kind}: {entry['count']} (e.g. {first['id']}: {first['message'][:160]})")
  for method, count in summary_json["method_errors"].items():
    lines.append(f"  unknown method {method!r}: recorded in {count} examples")
  return "\n".join(lines)


def default_paths(out: str) -> tuple[str, str]:
  """Where the JSON summary and the HTML report go by default: beside the results."""
  stem = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
  return stem + ".summary.json", stem + ".report.html"


def write_json(path: str, summary_json: dict) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(summary_json, f, indent=1, ensure_ascii=False)
    f.write("\n")


# -- the HTML report ----------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1a1a1a;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:20px 0 6px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{font-weight:600}
.chart text{font-size:12px;font-family:system-ui,sans-serif}
.text{white-space:pre-wrap;line-height:1.7;font-size:14px;border:1px solid #ddd;padding:12px;border-radius:6px}
.seg{border-radius:3px}.seg.selected{outline:2px solid #d6004c;outline-offset:1px}
.seg.output{font-style:italic}.seg.after{color:#888}
.example{margin:24px 0;padding-top:8px;border-top:1px dashed #ccc}
.muted{color:#666;font-size:12px}.error{color:#b00020}
a{color:#1a5fb4}
"""


def _esc(value) -> str:
  return html.escape(str(value), quote=True)


def _pct(x: float) -> str:
  return f"{100 * x:.1f}%"


def _chart(stats: Sequence[dict], method: str) -> str:
  """A horizontal bar per region: mean share, its interquartile range as a whisker."""
  label_w, bar_w, row_h = 170, 560, 24
  height = row_h * len(stats) + 30
  top = max([s["p75"] for s in stats] + [s["mean"] for s in stats] + [1e-9])
  scale = bar_w / max(top, 0.05)
  parts = [
    f'<svg class="chart" role="img" aria-label="{_esc(method)}: mean share per region"'
    f' width="{label_w + bar_w + 150}" height="{height}">'
  ]
  for k, s in enumerate(stats):
    y = 10 + k * row_h
    w = max(0.0, s["mean"] * scale)
    color = color_for(s["mean"], top, False)
    parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_esc(s["name"])}</text>')
    parts.append(
      f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}"'
      f' fill="{color}" stroke="#08306b" stroke-width="0.5"><title>'
      f"{_esc(s['name'])}: mean {_pct(s['mean'])}, IQR {_pct(s['p25'])}–{_pct(s['p75'])},"
      f" top in {_pct(s['top_fraction'])} of examples</title></rect>"
    )
    x1, x2 = label_w + s["p25"] * scale, label_w + s["p75"] * scale
    yc = y + row_h / 2 - 1
    parts.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{yc}" y2="{yc}" stroke="#333"/>')
    parts.append(
      f'<text x="{label_w + max(w, x2 - label_w) + 6:.1f}" y="{y + 15}">'
      f"{_pct(s['mean'])} · top {_pct(s['top_fraction'])}</text>"
    )
  parts.append("</svg>")
  return "".join(parts)


def _example_anchor(model: str, example_id: str, method: str) -> str:
  safe = "".join(c if c.isalnum() else "-" for c in f"{model}-{example_id}-{method}")
  return f"ex-{safe}"


def _example_section(record: dict, method: str) -> str:
  view = example_view(record, method)
  chips = []
  for c in view["chips"]:
    cls = (
      f"seg {c['role']}" + (" selected" if c["selected"] else "") + (" after" if c["after"] else "")
    )
    style = f"background:{c['color']};color:{text_color_for(c['color'])}" if c["scored"] else ""
    tip = f"{method}: {c['value']}"
    title = f' title="{_esc(tip)}"' if c["scored"] else ""
    chips.append(f'<span class="{cls}" style="{style}"{title}>{_esc(c["text"])}</span>')
  regions = record.get("regions") or {}
  rows = ""
  if regions:
    shares = regions["shares"].get(method, [])
    rows = "".join(
      f"<tr><td>{_esc(n)}</td><td class=num>{_pct(s)}</td></tr>"
      for n, s, runs in zip(regions["names"], shares, regions["tokens"])
      if runs
    )
    rows = f"<table><tr><th>region</th><th class=num>share</th></tr>{rows}</table>"
  anchor = _example_anchor(record.get("model", ""), record["id"], method)
  return (
    f'<section class="example" id="{anchor}"><h3>{_esc(record["id"])}'
    f' <span class="muted">{_esc(record.get("source", ""))} · {_esc(record.get("model", ""))}'
    f" · {_esc(method)}</span></h3>"
    f"<dl><dt>Explained</dt><dd>{_esc(record['span']['text'])}</dd>"
    f"<dt>Granularity</dt><dd>{_esc(record['granularity'])}</dd></dl>"
    f'<div class="text">{"".join(chips)}</div>{rows}'
    '<p class="muted">Prompt and output in segments; the explained span is outlined,'
    " output after it is grey. Hover a segment for its score.</p></section>"
  )


def html_report(
  records: Sequence[dict],
  summary_json: dict,
  *,
  title: str = "",
  load: Callable[[set], dict] | None = None,
) -> str:
  """The standalone HTML report. `records` may be light (run.light_record): `load`
  then gives the full records of the linked examples, {(model, id): record}."""
  by_key = {(r.get("model", ""), r["id"]): r for r in records if "error" not in r}
  linked: dict[str, tuple[tuple[str, str], str]] = {}

  def link(model: str, example_id: str, method: str, share: float) -> str:
    record = by_key.get((model, example_id))
    if record is None:
      return _esc(example_id)
    anchor = _example_anchor(model, example_id, method)
    linked.setdefault(anchor, ((model, example_id), method))
    source = f" ({record.get('source')})" if record.get("source") else ""
    return f'<a href="#{anchor}">{_esc(example_id)}{_esc(source)}</a> {_pct(share)}'

  body = []
  first = next(iter(by_key.values()), None)
  settings = ""
  if first is not None:
    selector = first["span"].get("selector")
    settings = (
      f"<dt>Explained</dt><dd>{_esc(first['explain'])}"
      f"{' · span /' + _esc(selector) + '/' if selector else ''}"
      f"</dd><dt>Methods</dt><dd>{_esc(', '.join(first['methods']))}</dd>"
      f"<dt>Granularity</dt><dd>{_esc(first['granularity'])}</dd>"
    )
  spec = summary_json.get("regions_spec") or []
  body.append(
    f"<dl><dt>Examples</dt><dd>{summary_json['examples']} explained,"
    f" {summary_json['errors']} errors</dd>{settings}"
    f"<dt>Regions</dt><dd>{_esc(' · '.join(spec)) or '(none: pass --regions)'}</dd></dl>"
  )
  body.append(
    "<p class=muted>A region's share: the sum of |score| over its tokens divided by"
    " that over the whole prompt, per example. Bars: the mean over examples; whiskers:"
    " the interquartile range; top: how often the region has the largest share."
    " <code>(rest)</code> is the prompt no region covers.</p>"
  )
  for model, methods in summary_json["regions"].items():
    for method, entry in methods.items():
      stats = entry["regions"]
      body.append(
        f"<h2>{_esc(model)} · {_esc(method)} <span class=muted>"
        f"({entry['examples']} examples)</span></h2>"
      )
      body.append(_chart(stats, method))
      rows = []
      for s in stats:
        hi = "<br>".join(link(model, e["id"], method, e["share"]) for e in s["highest"])
        lo = "<br>".join(link(model, e["id"], method, e["share"]) for e in s["lowest"])
        rows.append(
          f"<tr><td>{_esc(s['name'])}</td><td class=num>{_pct(s['mean'])}</td>"
          f"<td class=num>{_pct(s['std'])}</td><td class=num>{_pct(s['top_fraction'])}"
          f"</td><td>{hi}</td><td>{lo}</td></tr>"
        )
      body.append(
        "<table><tr><th>region</th><th class=num>mean</th><th class=num>std</th>"
        "<th class=num>top</th><th>highest share</th><th>lowest share</th></tr>"
        + "".join(rows)
        + "</table>"
      )
  for model, entries in (summary_json.get("checks") or {}).items():
    for entry in entries:
      n = entry["examples"]
      body.append(
        f"<h2>{_esc(model)} · deletion check of {_esc(entry['method'])}"
        f" <span class=muted>({_esc(entry['granularity'])}, {n} examples)</span></h2>"
      )
      body.append(
        "<p class=muted>Per example: delete the explanation's top k segments, k random"
        " ones (the mean of several draws) and the k lowest-ranked, and measure the drop"
        " in the explained span's log-probability (nats). Supported: deleting the top k"
        " hurts clearly more than random deletions for every k.</p>"
      )
      body.append(
        "<table><tr>"
        + "".join(f"<th class=num>{_esc(name)}</th>" for name in entry["verdicts"])
        + "</tr><tr>"
        + "".join(
          f"<td class=num>{count} ({_pct(count / n)})</td>" for count in entry["verdicts"].values()
        )
        + "</tr></table>"
      )
      rows = "".join(
        f"<tr><td class=num>{e['k']}</td><td class=num>{e['top_drop']:.3f}</td>"
        f"<td class=num>{e['random_drop']:.3f}</td><td class=num>{e['lowest_drop']:.3f}</td>"
        f"<td class=num>{e['excess']:.3f}</td><td class=num>{_pct(e['beats_random'])}</td></tr>"
        for e in entry["by_k"]
      )
      body.append(
        "<table><tr><th class=num>k</th><th class=num>top drop</th><th class=num>random"
        " drop</th><th class=num>lowest drop</th><th class=num>excess</th><th class=num>beats"
        f" random</th></tr>{rows}</table>"
      )
  if summary_json["errors_by_kind"]:
    body.append("<h2>Errors</h2><ul>")
    for kind, entry in summary_json["errors_by_kind"].items():
      examples = "; ".join(
        f"{_esc(e['id'])}: {_esc(e['message'][:200])}" for e in entry["examples"]
      )
      body.append(f"<li class=error><b>{_esc(kind)}</b> × {entry['count']}: {examples}</li>")
    body.append("</ul>")
  if linked:
    keys = {key for key, _ in linked.values()}
    full = {k: by_key[k] for k in keys if "tokens" in by_key[k]}
    if len(full) < len(keys) and load is not None:
      full |= load(keys - set(full))
    body.append("<h2>Examples</h2>")
    body.extend(
      _example_section(full[key], method) for key, method in linked.values() if key in full
    )
  title = title or "Salience over a dataset"
  return (
    f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}'
    f"</title><style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>"
    + "\n".join(body)
    + "</body></html>\n"
  )


def write_html(
  path: str,
  records: Sequence[dict],
  summary_json: dict,
  title: str = "",
  load: Callable[[set], dict] | None = None,
) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(html_report(records, summary_json, title=title, load=load))

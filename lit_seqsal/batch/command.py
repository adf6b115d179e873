r"""The batch command: salience over whole datasets, one JSON line per example, resumable.

  python -m lit_seqsal.attribute --datasets=sample_prompts --out=results.jsonl \
      --explain=target --span='^Recommendation:' --granularity=sentences \
      --regions='blocks:^Taste-likes:' --regions=labels:Analysis,Recommendation

(also installed as `lit-seqsal-attribute`). It takes the demo server's model
flags (--models, --dl_framework, --precision, --batch_size, --sequence_length,
...) and --datasets. Each example's record holds its id and source, the tokens,
the explained span, per method the token scores and the segments at
--granularity with their scores, and the model's generation when explained.
Rerunning with the same --out skips the examples already there; an interrupted
run loses at most the batch in flight. Examples that fail are recorded with
their error and summarised (--strict stops at the first). --ray runs the same
command on a Ray cluster. See docs/batch.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags, logging

from lit_seqsal import cli, datasets, options
from lit_seqsal.batch import config as config_lib
from lit_seqsal.batch import regions as regions_lib
from lit_seqsal.batch import report as report_lib
from lit_seqsal.batch import results as results_lib
from lit_seqsal.batch import run as run_lib
from lit_seqsal.batch import spans
from lit_seqsal.errors import InputError, SetupError
from lit_seqsal.salience import methods as methods_lib
from lit_seqsal.salience import segmentation

_MODELS, _DATASETS, _MAX_EXAMPLES = options.define_source_flags(
  0, "Examples taken from each dataset (0: all)."
)
_EXPLAIN = flags.DEFINE_enum(
  "explain",
  "target",
  list(spans.EXPLAIN_CHOICES),
  "What to explain: each example's target, or the model's own generation for its prompt.",
)
_SPAN = flags.DEFINE_string(
  "span",
  "",
  "Regular expression picking the part of the output to explain: the first output"
  " segment (see --span_granularity) whose text matches, e.g. '^Recommendation:'."
  " Empty: the whole output. An example where it matches nothing is recorded as an error.",
)
_SPAN_GRANULARITY = flags.DEFINE_enum(
  "span_granularity",
  "lines",
  list(segmentation.GRANULARITIES),
  "The units of the output --span picks from.",
)
_METHODS = flags.DEFINE_list(
  "methods",
  [],
  f"Salience methods (default: {','.join(methods_lib.default_names())}); any of"
  f" {', '.join(methods_lib.REGISTRY)}.",
)
_GRANULARITY = flags.DEFINE_enum(
  "granularity",
  config_lib.DEFAULT_GRANULARITY,
  list(segmentation.GRANULARITIES),
  "Segments whose summed scores each record holds (as the client shows them).",
)
_REGIONS = flags.DEFINE_multi_string(
  "regions",
  [],
  "Parts of the prompt to aggregate salience over (repeat the flag): NAME=REGEX,"
  " paragraphs, lines, blocks:REGEX (few-shot blocks, each starting at a line that"
  " matches), labels:LABEL[,LABEL...] (each line starting with 'LABEL:').",
)
_OUT = flags.DEFINE_string("out", "", "Results file (.jsonl) to write, or to resume.")
_REPORT_JSON = flags.DEFINE_string(
  "report_json",
  "",
  "Where to write the summary and region table as JSON (default: beside --out, OUT.summary.json).",
)
_REPORT_HTML = flags.DEFINE_string(
  "report_html", "", "Where to write the HTML report (default: OUT.report.html)."
)
_REPORT_ONLY = flags.DEFINE_bool(
  "report_only",
  False,
  "Compute nothing: aggregate the regions of an existing --out (e.g. with other"
  " --regions) and write the reports.",
)
_STRICT = flags.DEFINE_bool(
  "strict",
  False,
  "Stop at the first example error (and on unknown methods) instead of recording it and going on.",
)
_RETRY_ERRORS = flags.DEFINE_bool(
  "retry_errors", False, "On resume, compute the examples recorded as errors again."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Start --out afresh instead of resuming it.")
_CHUNK_SIZE = flags.DEFINE_integer(
  "chunk_size", 0, "Examples per salience call and per write (0: --batch_size).", lower_bound=0
)
_FOIL = flags.DEFINE_string(
  "foil",
  "",
  "Contrastive salience: explain each span against this text instead of it"
  " (an example's own 'foil' field wins); see docs/user-guide.md, 'Why this and not that'.",
)
_CHECK = flags.DEFINE_string(
  "check",
  "",
  "The deletion check of this method's explanation of every example (any of"
  f" {', '.join(methods_lib.REGISTRY)}), at --granularity: each record gets its 'check'"
  " record, the summary and the report its aggregate. Empty: no check.",
)
_RAY = flags.DEFINE_bool("ray", False, "Run on Ray: a local cluster, or --ray_address.")
_RAY_ADDRESS = flags.DEFINE_string(
  "ray_address",
  "",
  "Address of an existing Ray cluster (e.g. 'auto', or 'ray://HEAD:10001'); implies --ray.",
)
_NUM_WORKERS = flags.DEFINE_integer(
  "num_workers", 1, "Ray workers, each with its own copy of the models.", lower_bound=1
)
_CPUS_PER_WORKER = flags.DEFINE_float(
  "cpus_per_worker", 1.0, "CPUs Ray reserves for each worker.", lower_bound=0
)
_GPUS_PER_WORKER = flags.DEFINE_float(
  "gpus_per_worker",
  0.0,
  "GPUs Ray reserves for each worker (e.g. 1, or 0.5 to share).",
  lower_bound=0,
)
_RAY_MAX_RESTARTS = flags.DEFINE_integer(
  "ray_max_restarts",
  3,
  "How often Ray restarts a worker that died (its chunks are retried).",
  lower_bound=0,
)
options.define_flags()  # --dl_framework, --precision, --batch_size, --sequence_length, ...

# One flag per method setting of the registry (--ig_steps, --occlusion_granularity, ...).
_SETTING_FLAGS = {
  setting.name: cli.define_flag(
    setting.name,
    setting.default,
    f"{method.name}: {setting.help} (default {setting.default}).",
    choices=setting.choices,
    low=setting.low,
    high=setting.high,
  )
  for method in methods_lib.REGISTRY.values()
  for setting in method.settings
}


def config_from_flags() -> config_lib.BatchConfig:
  return config_lib.BatchConfig(
    models=tuple(_MODELS.value),
    datasets=tuple(_DATASETS.value),
    out=_OUT.value,
    options=options.from_flags(),
    max_examples=_MAX_EXAMPLES.value,
    explain=_EXPLAIN.value,
    span=_SPAN.value,
    span_granularity=_SPAN_GRANULARITY.value,
    methods=tuple(m.strip() for m in _METHODS.value if m.strip()),
    settings=tuple((name, flag.value) for name, flag in _SETTING_FLAGS.items()),
    granularity=_GRANULARITY.value,
    regions=tuple(_REGIONS.value),
    strict=_STRICT.value,
    retry_errors=_RETRY_ERRORS.value,
    overwrite=_OVERWRITE.value,
    chunk_size=_CHUNK_SIZE.value,
    foil=_FOIL.value,
    check=_CHECK.value.strip(),
  )


def ray_options_from_flags() -> dict | None:
  if not (_RAY.value or _RAY_ADDRESS.value):
    return None
  return dict(
    address=_RAY_ADDRESS.value,
    num_workers=_NUM_WORKERS.value,
    cpus_per_worker=_CPUS_PER_WORKER.value,
    gpus_per_worker=_GPUS_PER_WORKER.value,
    max_restarts=_RAY_MAX_RESTARTS.value,
  )


def write_reports(
  config: config_lib.BatchConfig, records, *, seconds=None, computed=None, stream=None
) -> dict:
  """Prints the region table and writes the JSON summary and the HTML report."""
  stream = stream or sys.stdout
  summary = report_lib.summary(records, seconds=seconds, computed=computed)
  json_path, html_path = report_lib.default_paths(config.out)
  json_path, html_path = _REPORT_JSON.value or json_path, _REPORT_HTML.value or html_path
  report_lib.write_json(json_path, summary)
  report_lib.write_html(
    html_path,
    records,
    summary,
    title=f"Salience over {config.out}",
    load=lambda keys: results_lib.records_by_key(config.out, keys),
  )
  stream.write(report_lib.table(summary) + "\n")
  stream.write(f"Results: {config.out}\nSummary: {json_path}\nReport: {html_path}\n")
  stream.flush()
  return summary


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = config_from_flags()
    if _REPORT_ONLY.value:
      config = config.checked()
      records = run_lib.finalize(config)
      summary = write_reports(config, records)
    else:
      ray_options, executor = ray_options_from_flags(), None
      if ray_options is not None:
        from lit_seqsal.batch import ray_run

        executor = ray_run.executor(ray_options)  # says how to install Ray, before any work
      result = run_lib.run(config, executor=executor)
      summary = write_reports(
        config, result.records, seconds=result.seconds, computed=result.computed
      )
  except (
    config_lib.BatchError,
    regions_lib.RegionSpecError,
    results_lib.ResultsFileError,
    datasets.DatasetFileError,
    InputError,
    SetupError,
    OSError,
  ) as e:
    # A mistake in the command or its files: the message says what to do. Other
    # exceptions are faults, and keep their traceback.
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 1
  except KeyboardInterrupt:
    sys.stderr.write(
      "\nInterrupted: the examples written so far are kept; run the same command again to resume.\n"
    )
    return 130
  if summary["examples"] == 0 and summary["errors"]:
    return 1
  return 0


def run_main() -> None:
  """The `lit-seqsal-attribute` console script."""
  app.run(main)


if __name__ == "__main__":
  run_main()

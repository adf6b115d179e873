"""Prompt-debugging layouts for LIT's prebuilt client, built from its stock modules."""

from lit_nlp.api import layout

_M = layout.LitModuleName

LEFT_RIGHT = "left_right"
TOP_BOTTOM = "top_bottom"
THREE_PANEL = "three_panel"

_left_right = layout.LitCanonicalLayout(
  left={"Examples": [_M.DataTableModule], "Edit": [_M.SingleDatapointEditorModule]},
  upper={"Sequence Salience": [_M.SequenceSalienceModule]},
  layoutSettings=layout.LayoutSettings(leftWidth=35),
  description="Examples on the left, sequence salience on the right.",
)

_top_bottom = layout.LitCanonicalLayout(
  upper={"Examples": [_M.SimpleDataTableModule], "Edit": [_M.SimpleDatapointEditorModule]},
  lower={"Sequence Salience": [_M.SequenceSalienceModule]},
  layoutSettings=layout.LayoutSettings(hideToolbar=True, mainHeight=35, centerPage=True),
  description="A compact example picker above sequence salience.",
)

_three_panel = layout.LitCanonicalLayout(
  left={"Examples": [_M.DataTableModule], "Embeddings": [_M.EmbeddingsModule]},
  upper={"Edit": [_M.SingleDatapointEditorModule], "Generate": [_M.GeneratorModule]},
  lower={
    "Sequence Salience": [_M.SequenceSalienceModule],
    # Every output token against every earlier token (the salience map
    # interpreter, components/interpreters.py).
    "Salience map": [_M.LegacySequenceSalienceModule],
    "Metrics": [_M.MetricsModule],
  },
  layoutSettings=layout.LayoutSettings(leftWidth=35, mainHeight=40),
  description="Examples and embeddings, editor, and salience with metrics.",
)

PROMPT_DEBUGGING_LAYOUTS = {
  LEFT_RIGHT: _left_right,
  TOP_BOTTOM: _top_bottom,
  THREE_PANEL: _three_panel,
}
DEFAULT_LAYOUT = THREE_PANEL

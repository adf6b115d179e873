"""Chat templates: prompts as conversations for instruction-tuned models.

With `--chat_template=auto` (the default), a model whose tokenizer carries a
chat template (Hugging Face `tokenizer.chat_template`; keras-hub
instruction-tuned presets: their family's turn format, a `TurnFormat` here)
gets each prompt as a user turn
and its target or generation as the model's turn. An example may instead give
the whole conversation (`messages`: role/content pairs, e.g. a system
instruction and two user turns); a prompt that already contains the template's
markers is used as it is (never wrapped twice).

Every token of a templated input is tagged "<turn>:<role>" (the contract's
`token_turns` field); the template's own tokens (BOS, role markers, turn
delimiters) get the role "template", so clients can grey them out, leave them
out of colour scaling, and segment by turn. A prompt written in a chat format
whose turn markers are tokens of the model's vocabulary (Gemma's
`<start_of_turn>user` ... `<end_of_turn>`, Gemma 4's, ChatML's `<|im_start|>`
... `<|im_end|>`) is tagged from its markers (`tag_marked_turns`), with or
without a chat template: a base Gemma gets Turns for such a prompt too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lit_seqsal.contract import FieldNames
from lit_seqsal.inputs import InputError
from lit_seqsal.tokens import WORD_START

TEMPLATE_ROLE = "template"
# Gemma's turn format (keras-hub has no template engine): Gemma has no system
# role, so a system message opens the first user turn, as Gemma's own template does.
GEMMA_START, GEMMA_END = "<start_of_turn>", "<end_of_turn>"
GEMMA_ROLES = {"user": "user", "model": "model", "assistant": "model"}


def parse_messages(value, where: str = "Field 'messages'") -> list[dict[str, str]]:
  """A conversation as a list of {"role", "content"} (from a list or its JSON text)."""
  if isinstance(value, str):
    try:
      value = json.loads(value)
    except ValueError as e:
      raise InputError(f"{where} is not valid JSON: {e}") from None
  if not isinstance(value, list) or not value:
    raise InputError(f'{where} must be a non-empty list of {{"role", "content"}} objects.')
  messages = []
  for i, m in enumerate(value):
    if (
      not isinstance(m, dict)
      or not isinstance(m.get("role"), str)
      or not isinstance(m.get("content"), str)
    ):
      raise InputError(f"{where}, message {i}: needs a text 'role' and a text 'content'.")
    messages.append({"role": m["role"], "content": m["content"]})
  return messages


def render_plain(messages: Sequence[dict[str, str]]) -> str:
  """A conversation as readable text ending where the model's turn starts (the
  prompt of models without a chat template)."""
  turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
  return "\n\n".join(turns + ["Model:"])


def conversation_of(example: dict, markers: Sequence[str]) -> list[dict[str, str]] | None:
  """The conversation to wrap in a chat template: the example's `messages`, else
  its prompt as one user turn; None for a prompt already in the template's format."""
  if example.get(FieldNames.MESSAGES) not in (None, "", []):
    return parse_messages(example[FieldNames.MESSAGES])
  prompt = example.get(FieldNames.PROMPT)
  if isinstance(prompt, str) and any(marker in prompt for marker in markers):
    return None
  if not isinstance(prompt, str):
    return None  # the prompt check reports it
  return [{"role": "user", "content": prompt}]


def tag_by_offsets(
  text: str,
  messages: Sequence[dict[str, str]],
  offsets: Sequence[tuple[int, int]],
  opener: str = "",
) -> list[str]:
  """Turn tags of tokens from their character offsets in the templated `text`.

  A token inside message i's content is "i:<role>"; any other token belongs to
  the template and to the turn it closes or opens: between two contents, the
  tokens before the template's turn `opener` (e.g. "<start_of_turn>") close
  the earlier turn, the others open the next one (the generation prompt's
  turn, after the last content).
  """
  spans, pos = [], 0
  for m in messages:
    start = text.find(m["content"], pos) if m["content"] else -1
    if start < 0:  # an empty or rewritten content: nothing of this turn to tag
      spans.append((pos, pos))
      continue
    spans.append((start, start + len(m["content"])))
    pos = start + len(m["content"])
  # Where each turn's opening starts: the opener in the gap before its content.
  openings, previous_end = [], 0
  for start, end in spans + [(len(text), len(text))]:
    found = text.find(opener, previous_end, start) if opener else -1
    openings.append(found if found >= 0 else previous_end)
    previous_end = end
  tags = []
  for a, b in offsets:
    turn = next(
      (i for i, (s, e) in enumerate(spans) if s <= a and b <= e and e > s and b > a), None
    )
    if turn is not None:
      tags.append(f"{turn}:{messages[turn]['role']}")
    else:
      upcoming = next((i for i, (s, _) in enumerate(spans) if s >= b), len(messages))
      closes_previous = upcoming > 0 and a < openings[upcoming]
      tags.append(f"{upcoming - 1 if closes_previous else upcoming}:{TEMPLATE_ROLE}")
  return tags


Piece = tuple[str, str]  # (kind, text): "marker" (a special token) or "template" text


@dataclass(frozen=True)
class TurnFormat:
  """A chat format written as pieces around each turn's content (keras-hub
  presets carry no chat template; each family's turn format is one of these).

  `open` and `close` map a role as the format writes it (after `roles`) to the
  pieces before and after its content ("*": any other role); "{role}" in a
  piece's text is that role. `system_in_first_user`: the format has no system
  role, so a system message opens the first user turn's content, followed by a
  blank line (Gemma, Mistral). `end` is the marker that ends the model's turn
  (generation stops there).
  """

  name: str
  open: Mapping[str, tuple[Piece, ...]]
  close: Mapping[str, tuple[Piece, ...]]
  end: str
  roles: Mapping[str, str] = dataclasses.field(default_factory=dict)
  system_in_first_user: bool = False

  def role(self, role: str) -> str:
    return self.roles.get(role, role)

  def pieces(self, side: str, role: str) -> list[Piece]:
    table = self.open if side == "open" else self.close
    written = self.role(role)
    return [
      (kind, text.replace("{role}", written)) for kind, text in table.get(written, table["*"])
    ]

  def markers(self) -> tuple[str, ...]:
    """The special tokens the format writes (a prompt holding one is templated)."""
    found = [
      text.replace("{role}", self.role(role))
      for table in (self.open, self.close)
      for pieces in table.values()
      for kind, text in pieces
      for role in ("system", "user", "assistant")
      if kind == "marker"
    ]
    return tuple(dict.fromkeys([*found, self.end]))


def turn_pieces(fmt: TurnFormat, messages: Sequence[dict[str, str]]) -> list[tuple[str, str, int]]:
  """A conversation in `fmt` as (kind, text, turn) pieces: kind "marker" (a
  special token), "template" (template text) or "content"; ends with the opening
  of the model's turn."""
  pieces: list[tuple[str, str, int]] = []
  system: list[tuple[str, str, int]] = []  # waiting for the first user turn
  turn = 0
  for i, m in enumerate(messages):
    if m["role"] == "system" and fmt.system_in_first_user:
      system += [("content", m["content"], i), ("template", "\n\n", i)]
      continue
    pieces += [(kind, text, i) for kind, text in fmt.pieces("open", m["role"])]
    if fmt.role(m["role"]) == fmt.role("user"):
      pieces += system
      system = []
    pieces.append(("content", m["content"], i))
    pieces += [(kind, text, i) for kind, text in fmt.pieces("close", m["role"])]
    turn = i + 1
  pieces += [(kind, text, turn) for kind, text in fmt.pieces("open", "assistant")]
  return pieces


def _format(name, start, end, roles=None, system_in_first_user=False, header="{role}\n"):
  return TurnFormat(
    name,
    open={"*": (("marker", start), ("template", header))},
    close={"*": (("marker", end), ("template", "\n"))},
    end=end,
    roles=roles or {},
    system_in_first_user=system_in_first_user,
  )


# Gemma 1-3: no system role (a system message opens the first user turn, as
# Gemma's own template does), the assistant is "model".
GEMMA = _format("gemma", GEMMA_START, GEMMA_END, GEMMA_ROLES, system_in_first_user=True)
# Gemma 4: its own turn markers, and a system role.
GEMMA4 = _format("gemma4", "<|turn>", "<turn|>", GEMMA_ROLES)
# ChatML (Qwen 2, 2.5 and 3).
CHATML = _format("chatml", "<|im_start|>", "<|im_end|>")
LLAMA3 = TurnFormat(
  "llama3",
  open={
    "*": (
      ("marker", "<|start_header_id|>"),
      ("template", "{role}"),
      ("marker", "<|end_header_id|>"),
      ("template", "\n\n"),
    )
  },
  close={"*": (("marker", "<|eot_id|>"),)},
  end="<|eot_id|>",
)
PHI3 = TurnFormat(
  "phi3",
  open={"*": (("marker", "<|{role}|>"), ("template", "\n"))},
  close={"*": (("marker", "<|end|>"), ("template", "\n"))},
  end="<|end|>",
)
# Mistral's instruction format: [INST] user [/INST]model</s>.
MISTRAL = TurnFormat(
  "mistral",
  open={"user": (("marker", "[INST]"), ("template", " ")), "*": ()},
  close={"user": (("template", " "), ("marker", "[/INST]")), "*": (("marker", "</s>"),)},
  end="</s>",
  system_in_first_user=True,
)


def gemma_pieces(messages: Sequence[dict[str, str]]) -> list[tuple[str, str, int]]:
  """Gemma's turn format as (kind, text, turn) pieces (turn_pieces with GEMMA)."""
  return turn_pieces(GEMMA, messages)


# Formats whose turns read START role "\n" content END (Gemma's, Gemma 4's,
# ChatML's): a prompt written in one is tagged from its markers.
TURN_MARKER_PAIRS = tuple((fmt.open["*"][0][1], fmt.end) for fmt in (GEMMA, GEMMA4, CHATML))


def tag_marked_turns(tokens: Sequence[str], markers: tuple[str, str]) -> list[str] | None:
  """Turn tags of a prompt already in a chat format, from its token strings
  (`lit_seqsal/tokens.py`): each START marker opens the next turn, whose role is
  the text up to the first newline; START, the role line, END and the newline
  after END are the turn's template; anything before the first turn (BOS) is
  turn 0's template. None without a START marker.
  """
  start, end = markers
  if start not in tokens:
    return None
  tags: list[str] = []
  turn, role, state = 0, "", "before"
  for token in tokens:
    text = token.replace(WORD_START, " ")
    if token == start:
      turn = turn + 1 if state != "before" else 0
      role, state = "", "role"
      tags.append(f"{turn}:{TEMPLATE_ROLE}")
    elif token == end:
      state = "closed"
      tags.append(f"{turn}:{TEMPLATE_ROLE}")
    elif state == "role":
      # The role line: template; the turn's content starts after its newline.
      tags.append(f"{turn}:{TEMPLATE_ROLE}")
      if "\n" in text:
        role = (role + text.split("\n", 1)[0]).strip() or "user"
        state = "content"
      else:
        role += text
    elif state == "content":
      tags.append(f"{turn}:{role}")
    else:  # before the first turn, or between a turn's end and the next
      tags.append(f"{turn}:{TEMPLATE_ROLE}")
  return tags

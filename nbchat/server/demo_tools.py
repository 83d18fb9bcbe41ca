"""How the offline demo model uses tools: deterministic, so a notebook shows the whole
tool loop with no key and no network.

When a request offers tools and its last message is the user's, the demo calls:

1. the tools the prompt names (``describe_data``, "describe data" or "describe-data"),
   in the order they appear: parallel calls;
2. else the first tool one of whose ``enum`` values the prompt names as a word (a
   shared variable's name, say);
3. else, with ``tool_choice: "required"`` (or one tool named by ``tool_choice``), that
   tool or the first; otherwise no tool: a plain demo reply.

Arguments come from the prompt: an ``enum`` parameter takes the value the prompt names
(else its first), a string parameter ``param=value`` / ``param: value`` or the first
quoted text or the last capitalised word, a number the first number; optional ones not
found are left out. ``tool_choice: "none"`` calls nothing.

When the last messages are tool results, the demo answers with them: each call and
what it returned, and a line saying a real model would reason over them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nbchat.wire import ToolChoice, ToolDef, tool_choice_name

__all__ = ["demo_tool_answer", "demo_tool_calls"]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"[\"'“‘`]([^\"'”’`]{1,200})[\"'”’`]")
_CAPITALISED = re.compile(r"\b[A-Z][\w.-]*")
#: how much of a tool's result the answer quotes
RESULT_CHARS = 1500


def _forms(name: str) -> list[str]:
    base = name.lower()
    spaced = re.sub(r"[_-]+", " ", base)
    return list(dict.fromkeys([base, spaced, spaced.replace(" ", "-")]))


def _position(text: str, word: str) -> int:
    found = re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text)
    return found.start() if found else -1


def demo_tool_calls(
    prompt: str, tools: Sequence[ToolDef], choice: ToolChoice = "auto"
) -> list[tuple[str, dict[str, Any]]]:
    """The calls the demo makes for ``prompt`` (name and arguments), maybe none."""
    if not tools or choice == "none":
        return []
    lowered = prompt.lower()
    named = tool_choice_name(choice)
    if named is not None:
        picked = [t for t in tools if t["name"] == named]
    else:
        hits = []
        for tool in tools:
            at = min(
                (p for p in (_position(lowered, f) for f in _forms(tool["name"])) if p >= 0),
                default=-1,
            )
            if at >= 0:
                hits.append((at, tool))
        picked = [tool for _at, tool in sorted(hits, key=lambda hit: hit[0])]
        if not picked:
            picked = [t for t in tools if _enum_hit(lowered, t) is not None][:1]
        if not picked and choice == "required":
            picked = list(tools[:1])
    return [(tool["name"], _arguments(prompt, tool)) for tool in picked]


def _enum_hit(lowered: str, tool: ToolDef) -> str | None:
    for schema in (tool["parameters"].get("properties") or {}).values():
        for value in schema.get("enum") or ():
            if isinstance(value, str) and _position(lowered, value.lower()) >= 0:
                return value
    return None


def _arguments(prompt: str, tool: ToolDef) -> dict[str, Any]:
    parameters = tool["parameters"]
    required = set(parameters.get("required") or ())
    lowered = prompt.lower()
    out: dict[str, Any] = {}
    for name, schema in (parameters.get("properties") or {}).items():
        value = _value(prompt, lowered, name, schema if isinstance(schema, dict) else {})
        if value is not None:
            out[name] = value
        elif name in required:
            out[name] = _fallback(schema if isinstance(schema, dict) else {}, prompt)
    return out


def _value(prompt: str, lowered: str, name: str, schema: dict[str, Any]) -> Any:
    enum = [v for v in schema.get("enum") or () if isinstance(v, str)]
    if enum:
        found = [(p, v) for v in enum if (p := _position(lowered, v.lower())) >= 0]
        return min(found)[1] if found else None
    given = re.search(rf"\b{re.escape(name)}\s*[=:]\s*(\"[^\"]*\"|'[^']*'|\S+)", prompt)
    kind = schema.get("type")
    if given:
        text = given.group(1).strip("\"'.,;")
        return _typed(text, kind)
    return None


def _typed(text: str, kind: object) -> Any:
    if kind == "integer":
        number = _NUMBER.search(text)
        return int(float(number.group())) if number else None
    if kind == "number":
        number = _NUMBER.search(text)
        return float(number.group()) if number else None
    if kind == "boolean":
        return text.lower() in ("true", "yes", "1")
    return text


def _fallback(schema: dict[str, Any], prompt: str) -> Any:
    kind = schema.get("type")
    if "default" in schema:
        return schema["default"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if kind in ("integer", "number"):
        number = _NUMBER.search(prompt)
        value = float(number.group()) if number else 5
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {}
    quoted = _QUOTED.search(prompt)
    if quoted:
        return quoted.group(1)
    capitalised = [w for w in _CAPITALISED.findall(prompt) if w.lower() not in _OPENERS]
    if capitalised:
        return capitalised[-1].rstrip(".")
    words = re.findall(r"\w+", prompt)
    return words[-1] if words else ""


#: sentence openers that are not names
_OPENERS = frozenset({"what", "how", "show", "tell", "please", "can", "could", "i", "the", "is"})


def demo_tool_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    """The demo's reply after tool results: the calls of the last assistant message and
    what each returned (Markdown)."""
    calls: dict[str, tuple[str, str]] = {}
    start = len(messages)
    while start > 0 and messages[start - 1].get("role") == "tool":
        start -= 1
    asked = messages[start - 1] if start > 0 else {}
    for call in asked.get("tool_calls") or ():
        if isinstance(call, Mapping):
            function = call.get("function") or {}
            calls[str(call.get("id"))] = (
                str(function.get("name", "tool")),
                str(function.get("arguments", "")),
            )
    lines = ["## What the tools returned", ""]
    for message in messages[start:]:
        name, arguments = calls.get(str(message.get("tool_call_id")), ("tool", ""))
        result = str(message.get("content") or "")
        shown = result if len(result) <= RESULT_CHARS else result[:RESULT_CHARS] + "\n…"
        runs = [len(r) for r in re.findall(r"`+", shown)]
        fence = "`" * max(3, max(runs, default=0) + 1)
        lines += [
            f"**{name}**({_short(arguments)}) returned:",
            "",
            f"{fence}text",
            shown,
            fence,
            "",
        ]
    lines.append(
        "I'm nbchat's offline demo model: I show what the kernel's tools returned instead "
        "of reasoning about it. Connect a real model (`nbchat.Chat(provider=...)`) and the "
        "same tools answer its questions."
    )
    return "\n".join(lines)


def _short(arguments: str) -> str:
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments[:80]
    if not isinstance(parsed, dict):
        return arguments[:80]
    return ", ".join(f"{k}={json.dumps(v)[:40]}" for k, v in parsed.items())

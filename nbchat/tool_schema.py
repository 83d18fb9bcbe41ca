"""A Python function as a tool a model can call: its name, description and JSON schema,
and the arguments a model sends checked against it.

The schema comes from the signature's type hints (pydantic builds it: ``Literal``,
optional values, lists, dicts, tuples, enums, dataclasses, TypedDicts and pydantic
models) and the docstring (docstring-parser reads Google, NumPy and reST styles: the
description, and each parameter's text). ``*args`` cannot be described to a model and
is refused; ``**kwargs`` is left out. References between nested types are inlined
(providers differ in how they take ``$ref``), titles dropped (noise to a model).

A model's arguments are validated by the same pydantic model, so what reaches the
function has the types its hints say (a dataclass parameter gets a dataclass); a
mismatch is a :class:`ToolArgumentError` whose message is meant for the model.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docstring_parser
import pydantic

from nbchat.errors import ConfigurationError

__all__ = ["ToolArgumentError", "ToolSpec", "call_target", "tool_spec"]

#: what a tool name may be (the strictest provider's rule: OpenAI's and Anthropic's)
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ToolArgumentError(ValueError):
    """The arguments a model sent do not fit the tool's schema; the message says how
    (it goes back to the model as the call's result)."""


@dataclass(frozen=True)
class ToolSpec:
    """What a model is told about a tool, and how its arguments are checked."""

    name: str
    description: str
    #: a JSON schema of ``type: object``
    parameters: dict[str, Any]
    _model: type[pydantic.BaseModel] = field(repr=False, compare=False)

    def arguments(self, raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
        """The keyword arguments to call the function with, from a model's arguments
        (a JSON object, as text or parsed). Parameters the model left out keep the
        function's defaults.

        Raises
        ------
        ToolArgumentError
            Not a JSON object, or it does not fit the schema.
        """
        try:
            if raw is None or raw == "":
                checked = self._model.model_validate({})
            elif isinstance(raw, str):
                checked = self._model.model_validate_json(raw)
            else:
                checked = self._model.model_validate(dict(raw))
        except pydantic.ValidationError as exc:
            raise ToolArgumentError(_problems(self.name, exc)) from exc
        return {name: getattr(checked, name) for name in checked.model_fields_set}


def tool_spec(
    func: Callable[..., Any], name: str | None = None, description: str | None = None
) -> ToolSpec:
    """The :class:`ToolSpec` of ``func``; ``name`` and ``description`` override the
    function's own name and docstring.

    Raises
    ------
    ConfigurationError
        The name is not one a provider accepts, ``func`` takes ``*args``, or a type
        hint cannot be described as JSON.
    """
    tool_name = str(name or getattr(func, "__name__", ""))
    if not NAME.match(tool_name):
        raise ConfigurationError(
            f"tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-' (name=...)"
        )
    doc = docstring_parser.parse(inspect.getdoc(func) or inspect.getdoc(call_target(func)) or "")
    texts = {p.arg_name: (p.description or "").strip() for p in doc.params}
    try:
        hints = _hints(func)
        signature = inspect.signature(func)
    except NameError as exc:
        raise ConfigurationError(
            f"tool {tool_name}: cannot read its type hints ({exc}); define the types it "
            "uses where the function is defined, at the top level of a module or cell"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"tool {tool_name}: cannot read its signature: {exc}") from exc
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            raise ConfigurationError(
                f"tool {tool_name}: *{param.name} cannot be described to a model; "
                "take a list parameter instead"
            )
        if param.kind is param.VAR_KEYWORD or param.name in ("self", "cls"):
            continue
        default = ... if param.default is param.empty else param.default
        info = pydantic.Field(default, description=texts.get(param.name) or None)
        fields[param.name] = (hints.get(param.name, Any), info)
    try:
        model = pydantic.create_model(
            f"{tool_name}_arguments",
            __config__=pydantic.ConfigDict(arbitrary_types_allowed=False, extra="forbid"),
            **fields,
        )
        schema = model.model_json_schema()
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise ConfigurationError(
            f"tool {tool_name}: a parameter's type cannot be described as JSON ({exc}); "
            "use str, numbers, bool, lists, dicts, Literal, dataclasses or pydantic models"
        ) from exc
    if description is None:
        parts = [doc.short_description or "", doc.long_description or ""]
        description = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return ToolSpec(tool_name, description, _tidy(schema), model)


def call_target(func: Callable[..., Any]) -> Any:
    """What runs when ``func`` is called: itself, or a callable object's ``__call__``
    (whose hints, docstring and ``async`` are the tool's)."""
    return func if inspect.isroutine(func) else type(func).__call__


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(call_target(func), include_extras=True)


def _tidy(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` to ``$defs`` (unless recursive), drop titles, and keep an empty
    ``properties`` for a tool without parameters."""
    defs: dict[str, Any] = schema.pop("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            key = ref.removeprefix("#/$defs/")
            if key in seen or key not in defs:  # recursive: keep the reference
                keep["needed"] = True
                return node
            inlined = walk(defs[key], (*seen, key))
            rest = {k: walk(v, seen) for k, v in node.items() if k != "$ref"}
            return {**inlined, **rest}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: walk(sub, seen) for name, sub in value.items()}
            else:
                out[key] = walk(value, seen)
        return out

    keep = {"needed": False}
    tidy: dict[str, Any] = walk(schema, ())
    tidy.setdefault("properties", {})
    tidy.pop("additionalProperties", None)
    if keep["needed"]:
        tidy["$defs"] = {k: walk(v, (k,)) for k, v in defs.items()}
    return tidy


def _problems(name: str, exc: pydantic.ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "arguments"
        lines.append(f"{where}: {error.get('msg', 'invalid')}")
    more = exc.error_count() - len(lines)
    if more > 0:
        lines.append(f"(and {more} more)")
    return f"invalid arguments for {name}: " + "; ".join(lines)

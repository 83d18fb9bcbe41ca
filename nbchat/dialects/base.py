"""What a dialect is: a request builder plus an incremental stream parser.

A dialect is the only place that knows a provider's wire format. It builds the HTTP
request for a conversation and turns each server-sent event into normalized
:mod:`nbchat.events`. One instance parses one response; ``end`` is called at EOF and
reports a stream that stopped before its protocol's end marker as ``INTERRUPTED``.

``framing`` says how the response body is cut into events: ``"sse"`` (server-sent
events) or ``"lines"`` (one event per line, for the AI SDK 4 data stream);
:meth:`Dialect.request` puts it on the request, and the transport picks the decoder
from it (:func:`nbchat.stream.base.decoder_for`). Only ``"sse"`` responses must be
``text/event-stream``.

Shared helpers for dialect modules: :class:`ToolCallTracker` (index, argument text and
finish of each tool call), ``parse_arguments`` (tolerant JSON arguments),
``token_count``, ``last_user_text`` and ``system_text`` (request building).
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from nbchat.config import Endpoint
from nbchat.errors import ConfigurationError, excerpt
from nbchat.events import (
    StreamError,
    StreamEvent,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from nbchat.stream.base import Framing, HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam, ToolChoice, ToolDef, tool_choice_name


class Dialect(ABC):
    """Parses one response of one wire format; see the module docstring."""

    name: str = ""
    #: the marker that ends a stream properly, named in INTERRUPTED errors
    end_marker: str = ""
    #: whether requests name a model (formats of endpoints that choose it themselves do not)
    sends_model: bool = True
    #: how the body is cut into events: server-sent events or one event per line
    framing: ClassVar[Framing] = "sse"

    def __init__(self) -> None:
        self.finished = False
        self.failed = False

    @abstractmethod
    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        """The request that asks ``endpoint`` to continue ``messages``."""

    @abstractmethod
    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        """Normalized events for one server-sent event."""

    def request(
        self,
        endpoint: Endpoint,
        messages: Sequence[ChatMessageParam],
        tools: Sequence[ToolDef] = (),
    ) -> HttpRequest:
        """:meth:`build_request` (with :meth:`add_tools` when there are ``tools``),
        labelled with this dialect's framing, name and model."""
        built = self.build_request(endpoint, messages)
        if tools:
            built = self.add_tools(built, tools)
        return dataclasses.replace(
            built, framing=self.framing, dialect=self.name, model=endpoint.model
        )

    #: whether the client runs the tool calls this format streams (and sends their
    #: results back): OpenAI chat and Responses, Anthropic. A format whose server runs
    #: its tools (spec 002's events) streams calls with their results instead.
    client_tools: ClassVar[bool] = False

    def with_tool_choice(self, request: HttpRequest, choice: ToolChoice) -> HttpRequest:
        """``request`` (that offers tools) with OpenAI's ``tool_choice`` in this format
        (see :meth:`tool_choice_value`); "auto" (or None) leaves it as it is: every
        format's default."""
        if choice in (None, "auto"):
            return request
        value = self.tool_choice_value(tool_choice_name(choice), choice)
        return dataclasses.replace(request, json={**request.json, "tool_choice": value})

    def tool_choice_value(self, name: str | None, choice: ToolChoice) -> Any:
        """This format's ``tool_choice`` for tool ``name`` (when one is named), else for
        OpenAI's "none" / "required".

        Raises
        ------
        ConfigurationError
            This format cannot pass it on.
        """
        raise ConfigurationError(f"the {self.name!r} dialect cannot pass tool_choice on")

    #: OpenAI sampling fields this format takes, and its name for each (``stop`` is
    #: ``stop_sequences`` to Anthropic); the gateway passes them on
    sampling: ClassVar[Mapping[str, str]] = {}

    def with_sampling(self, request: HttpRequest, values: Mapping[str, Any]) -> HttpRequest:
        """``request`` with the sampling ``values`` (OpenAI's names) in this format.

        Raises
        ------
        ConfigurationError
            A field this format cannot carry.
        """
        if not values:
            return request
        body = dict(request.json)
        for key, value in values.items():
            name = self.sampling.get(key)
            if name is None:
                raise ConfigurationError(f"the {self.name!r} dialect cannot pass {key!r} on")
            body[name] = value
        return dataclasses.replace(request, json=body)

    def add_tools(self, request: HttpRequest, tools: Sequence[ToolDef]) -> HttpRequest:
        """``request`` offering ``tools`` to the model (each as :meth:`tool_entry`)."""
        entries = [self.tool_entry(tool) for tool in tools]
        return dataclasses.replace(request, json={**request.json, "tools": entries})

    def tool_entry(self, tool: ToolDef) -> dict[str, Any]:
        """One tool as this format's request lists it.

        Raises
        ------
        ConfigurationError
            This format cannot offer tools (``client_tools`` is False).
        """
        raise ConfigurationError(
            f"the {self.name!r} dialect cannot offer tools to the model; use openai-chat, "
            "openai-responses or anthropic, or remove the chat's tools"
        )

    def resume_request(self, request: HttpRequest, last_event_id: str) -> HttpRequest | None:
        """The request that re-opens a dropped stream after ``last_event_id``, or None.

        Only where re-opening cannot start work twice. By default that is a GET stream
        (EventSource semantics): the same request with a ``Last-Event-ID`` header. A
        POST that starts work (a reply, a job) gives None: it ends ``interrupted``.
        Override for a protocol with a resume route of its own.
        """
        if request.method != "GET":
            return None
        return with_last_event_id(request, last_event_id)

    def end(self) -> list[StreamEvent]:
        """Called at EOF: an unfinished, unfailed stream is reported as interrupted."""
        if self.finished or self.failed:
            return []
        self.failed = True
        return [
            StreamError(
                "INTERRUPTED",
                f"the stream ended before {self.end_marker}: the reply may be incomplete",
            )
        ]

    def parse_json(self, data: str) -> tuple[Any, StreamError | None]:
        """``json.loads(data)``, or a PROTOCOL_ERROR quoting the offending text.

        A lone surrogate escape (``"\\ud800"``: valid JSON, not valid Unicode) becomes
        U+FFFD, so the text can still be saved and sent to the browser.
        """
        try:
            value = load_json(data)
            if "\\u" in data and ("\\ud" in data or "\\uD" in data):  # rare: look closer
                value = without_lone_surrogates(value)
            return value, None
        except json.JSONDecodeError as exc:
            self.failed = True
            return None, StreamError(
                "PROTOCOL_ERROR",
                f"malformed JSON in a {self.name} event ({exc.msg} at char {exc.pos}): "
                f"{excerpt(data)!r}",
            )

    def parse_object(self, data: str) -> tuple[dict[str, Any], StreamError | None]:
        """``parse_json`` that also requires a JSON object (PROTOCOL_ERROR otherwise)."""
        value, problem = self.parse_json(data)
        if problem is not None:
            return {}, problem
        if not isinstance(value, dict):
            return {}, self.protocol_error(
                f"expected a JSON object in a {self.name} event, got {excerpt(data)!r}"
            )
        return value, None

    def protocol_error(self, message: str) -> StreamError:
        """A PROTOCOL_ERROR that ends this stream."""
        self.failed = True
        return StreamError("PROTOCOL_ERROR", message)

    def provider_error(self, message: str) -> StreamError:
        """A PROVIDER_ERROR (the provider reported an error in-band) that ends this stream."""
        self.failed = True
        return StreamError("PROVIDER_ERROR", message)


class JSONDialect(Dialect):
    """A dialect whose every event holds one JSON object: ``feed`` parses it once.

    Subclasses implement :meth:`on_object`; events after the end or a failure are
    ignored, and data that is not a JSON object is a PROTOCOL_ERROR quoting it.
    """

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if self.finished or self.failed:
            return []
        data, problem = self.parse_object(event.data)
        if problem is not None:
            return [problem]
        return self.on_object(event, data)

    @abstractmethod
    def on_object(self, event: ServerSentEvent, data: dict[str, Any]) -> list[StreamEvent]:
        """Normalized events for one event's JSON object ``data``."""


#: the C scanner behind json.loads (not in typeshed's stubs)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def load_json(data: str) -> Any:
    """``json.loads`` for the usual event: an object with nothing around it. The C scanner
    is called directly (``json.loads`` first looks for whitespace with two regex
    matches); anything else goes through ``json.loads``, errors and all."""
    if data[:1] == "{" and data[-1:] == "}":
        try:
            value, end = _scan(data, 0)
        except StopIteration:
            pass
        else:
            if end == len(data):
                return value
    return json.loads(data)


def url_join(base_url: str, path: str) -> str:
    """``base_url`` + ``/path``, keeping a query string (``?api-version=...``) at the end."""
    head, mark, query = base_url.partition("?")
    return f"{head.rstrip('/')}/{path.lstrip('/')}{mark}{query}"


def without_lone_surrogates(value: Any) -> Any:
    """``value`` (parsed JSON) with each lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def with_last_event_id(request: HttpRequest, last_event_id: str) -> HttpRequest:
    """``request`` with its ``Last-Event-ID`` header set to ``last_event_id``."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != "last-event-id"}
    headers["Last-Event-ID"] = last_event_id
    return dataclasses.replace(request, headers=headers)


def parse_arguments(raw: str) -> dict[str, Any]:
    """Tool-call arguments as a dict: ``{}`` for empty, invalid or non-object JSON."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def token_count(value: Any) -> int | None:
    """A token count as reported, or None (absent, NaN, negative, not an integer)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (value != value or not value.is_integer()):
        return None
    return int(value) if value >= 0 else None


def usage_events(
    usage: Any, input_key: str = "input_tokens", output_key: str = "output_tokens"
) -> list[StreamEvent]:
    """``[Usage(...)]`` from a provider's usage object, or ``[]`` when it reports nothing."""
    if not isinstance(usage, dict):
        return []
    tokens_in = token_count(usage.get(input_key))
    tokens_out = token_count(usage.get(output_key))
    if tokens_in is None and tokens_out is None:
        return []
    return [Usage(tokens_in, tokens_out)]


def error_label(error: Any) -> str:
    """``"type: message"`` for an error object (``code`` when there is no ``type``)."""
    if isinstance(error, dict):
        message = str(error.get("message") or "").strip()
        label = error.get("type") or error.get("code")
        if message and label:
            return f"{label}: {message}"
        return message or excerpt(json.dumps(error, default=str))
    if isinstance(error, str) and error.strip():
        return excerpt(error)
    return excerpt(json.dumps(error, default=str))


def last_user_text(messages: Sequence[ChatMessageParam]) -> str:
    """The content of the last user message (``""`` when there is none)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's arguments (JSON text) as an object, for formats that send them parsed
    (``{}`` when the text is not a JSON object)."""
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def request_body(
    endpoint: Endpoint, messages: Sequence[ChatMessageParam], default: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body of a format that sends the last user message: ``default``, or the
    endpoint's own (``Chat(request_body=...)``): a template whose strings have
    ``{message}`` replaced, or a function of the message and the messages.

    Raises
    ------
    ConfigurationError
        The function failed or did not return a JSON object.
    """
    template = endpoint.body
    if template is None:
        return default
    message = last_user_text(messages)
    if callable(template):
        try:
            body = template(message, list(messages))
        except Exception as exc:
            raise ConfigurationError(f"request_body function failed: {exc}") from exc
        if not isinstance(body, Mapping):
            raise ConfigurationError(
                f"request_body function must return a dict, not {type(body).__name__}"
            )
        return dict(body)
    filled = _fill(template, message)
    return dict(filled) if isinstance(filled, Mapping) else default


def _fill(value: Any, message: str) -> Any:
    if isinstance(value, str):
        return value.replace("{message}", message)
    if isinstance(value, Mapping):
        return {key: _fill(item, message) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, message) for item in value]
    return value


def system_text(messages: Sequence[ChatMessageParam]) -> str:
    """The system messages' contents joined by blank lines (for APIs with a system field)."""
    return "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])


def bearer_headers(endpoint: Endpoint) -> dict[str, str]:
    """The endpoint's extra headers plus ``Authorization: Bearer <key>`` when a key is set."""
    headers = dict(endpoint.headers)
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return headers


class ToolCallTracker:
    """The tool calls of one response, keyed by the provider's own handle.

    The key is whatever names a call on the wire (a content-block index, an item id, a
    tool call id). Calls get indexes 0, 1, 2... in order of appearance, which is what
    :class:`~nbchat.events.ToolCallStarted` carries. Argument fragments are kept so
    ``finish`` can parse them (invalid JSON gives ``{}``; the raw text stays in the
    deltas). Each call finishes once.
    """

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._args: dict[int, list[str]] = {}
        self._input: dict[int, dict[str, Any]] = {}
        self._open: dict[int, str] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def is_open(self, key: str) -> bool:
        """True when ``key`` was started and has not finished."""
        return self._index.get(key, -1) in self._open

    def open_keys(self) -> list[str]:
        """Keys of the calls not finished yet, in order of appearance."""
        return list(self._open.values())

    def name(self, key: str) -> str:
        return self._names.get(self._index[key], "")

    def start(self, key: str, call_id: str, name: str) -> ToolCallStarted:
        """Register a new call (the caller checks ``key not in self`` first)."""
        index = len(self._index)
        self._index[key] = index
        self._names[index] = name
        self._args[index] = []
        self._open[index] = key
        return ToolCallStarted(index, call_id, name)

    def delta(self, key: str, fragment: str) -> ToolCallDelta:
        """A fragment of the arguments of the started call ``key``."""
        index = self._index[key]
        self._args[index].append(fragment)
        return ToolCallDelta(index, fragment)

    def raw(self, key: str) -> str:
        """The argument text streamed so far for ``key``."""
        return "".join(self._args[self._index[key]])

    def set_input(self, key: str, value: dict[str, Any]) -> list[ToolCallDelta]:
        """Record the parsed input the provider sent whole; also as a delta if none came."""
        index = self._index[key]
        self._input[index] = value
        if self._args[index]:
            return []
        return [self.delta(key, json.dumps(value, ensure_ascii=False))]

    def finish(
        self, key: str, *, result: Any = None, duration_s: float | None = None
    ) -> list[ToolCallFinished]:
        """The finish event of ``key`` (none when it already finished)."""
        index = self._index[key]
        if self._open.pop(index, None) is None:
            return []
        arguments = self._input.get(index)
        if arguments is None:
            arguments = parse_arguments("".join(self._args[index]))
        return [ToolCallFinished(index, arguments, result, duration_s)]

    def finish_open(self) -> list[ToolCallFinished]:
        """Finish every call still open (at the end of a step or of the message)."""
        out: list[ToolCallFinished] = []
        for key in self.open_keys():
            out.extend(self.finish(key))
        return out

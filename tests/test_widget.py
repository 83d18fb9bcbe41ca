"""The chat widget's kernel side: snapshots, numbered batches, view requests."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from nbchat import Chat, ChatController, ConfigurationError, TurnInProgressError, register_dialect
from nbchat.changes import TextAppended
from nbchat.dialects import Dialect, HttpRequest
from nbchat.events import Finished, ReasoningDelta, StreamEvent, TextDelta
from nbchat.stream.sse import ServerSentEvent
from nbchat.widget import ChatWidget
from tests.conftest import DemoServer, Faults, FaultServer


class RecordingWidget(ChatWidget):
    """Records what would go to the browser, in order."""

    def __init__(self, controller: ChatController, **kw: Any) -> None:
        self.wire: list[tuple[str, Any]] = []
        super().__init__(controller, **kw)
        self.observe(lambda change: self.wire.append(("snapshot", change["new"])), "snapshot")
        self.observe(lambda change: self.wire.append(("head", change["new"])), "head")

    def send(self, content: Any, buffers: Any = None) -> None:
        self.wire.append((content["type"], json.loads(json.dumps(content))))

    def ops(self, *kinds: str) -> list[dict[str, Any]]:
        return [op for k, b in self.wire if k == "batch" for op in b["ops"] if op["op"] in kinds]


class ReferenceView:
    """Applies the wire protocol exactly as nbchat/wire.py specifies (the JS store does too)."""

    def __init__(self, snapshot: dict[str, Any], head: dict[str, Any] | None = None) -> None:
        self.gaps = 0
        self.hydrate(snapshot)
        if head:
            self.head(head)

    def hydrate(self, snapshot: dict[str, Any]) -> None:
        self.seq = snapshot["seq"]
        self.phase = snapshot["phase"]
        self.notice = snapshot.get("notice", "")
        self.offset = snapshot.get("offset", 0)
        self.messages = {m["id"]: dict(m) for m in snapshot["messages"]}

    def head(self, head: dict[str, Any]) -> None:
        self.phase, self.notice = head["phase"], head["notice"]
        if head["seq"] > self.seq:
            self.gaps += 1  # a lost batch: the view asks for a sync

    def apply(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "snapshot":
            self.hydrate(payload)
        elif kind == "head":
            self.head(payload)
        elif kind == "batch":
            self.batch(payload)

    def batch(self, batch: dict[str, Any]) -> None:
        if batch["seq"] <= self.seq:
            return
        if batch["seq"] != self.seq + 1:
            self.gaps += 1
            return
        for op in batch["ops"]:
            if op["op"] == "upsert":
                self.messages[op["message"]["id"]] = dict(op["message"])
            elif op["id"] not in self.messages:
                self.gaps += 1
                return
            elif op["op"] == "text":
                self.messages[op["id"]]["content"] += op["text"]
            elif op["op"] == "reasoning":
                message = self.messages[op["id"]]
                message["reasoning"] = message.get("reasoning", "") + op["text"]
            elif op["op"] == "patch":
                message = self.messages[op["id"]]
                self.messages[op["id"]] = {
                    **op["fields"],
                    "id": op["id"],
                    "content": message["content"],
                    "reasoning": message.get("reasoning", ""),
                }
            elif op["op"] == "remove":
                del self.messages[op["id"]]
        self.seq = batch["seq"]

    @property
    def texts(self) -> dict[str, str]:
        return {i: m["content"] for i, m in self.messages.items()}

    @property
    def reasoning(self) -> dict[str, str]:
        return {i: m.get("reasoning", "") for i, m in self.messages.items()}


def chat_for(server: DemoServer, tmp_path: Path) -> Chat:
    return Chat(server.base_url, model="demo", history=tmp_path / "h.db", name="w")


async def test_stream_reaches_a_view_in_batches(demo_server: DemoServer, tmp_path: Path) -> None:
    chat = chat_for(demo_server, tmp_path)
    widget = RecordingWidget(chat, interval=0.03)
    view = ReferenceView(widget.snapshot, widget.head)
    message = await chat.send("Explain vectorization in numpy")
    batches = [m for kind, m in widget.wire if kind == "batch"]
    for kind, payload in widget.wire:
        view.apply(kind, payload)
    assert view.gaps == 0
    assert view.texts[message.id] == message.content and view.phase == "done"
    assert view.messages[message.id]["status"] == "done"
    tokens = message.metrics["output_tokens"]
    assert 1 <= len(batches) < tokens / 2, (len(batches), tokens)
    assert [b["seq"] for b in batches] == list(range(1, len(batches) + 1))
    sent = sum(len(op["text"]) for op in widget.ops("text"))
    assert sent <= len(message.content)  # append-only: never the whole text again
    assert not any(kind == "snapshot" for kind, _ in widget.wire)  # a turn sends no snapshot


async def test_snapshot_carries_state_and_final_text(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    chat = Chat(demo_server.base_url, api_key="sk-secret-0123456789", model="demo", history=None)
    widget = RecordingWidget(chat)
    message = await chat.send("hi")
    assert widget.head["phase"] == "done" and widget.head["model"] == "demo"
    assert widget.head["endpoint"] == demo_server.base_url
    widget._on_view_message(widget, {"type": "sync"}, [])  # what a view that opens asks
    snap = widget.snapshot
    assert snap["phase"] == "done" and snap["model"] == "demo" and snap["offset"] == 0
    last = snap["messages"][-1]
    assert last["content"] == message.content and last["status"] == "done"
    assert last["metrics"]["tokens_per_s"] > 0
    versions = [p["version"] for kind, p in widget.wire if kind == "snapshot"]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert "sk-secret-0123456789" not in json.dumps(widget.wire)


async def test_late_view_hydrates_mid_stream_after_sync(
    slow_demo_server: DemoServer, tmp_path: Path
) -> None:
    chat = chat_for(slow_demo_server, tmp_path)
    widget = RecordingWidget(chat, interval=0.02)
    turn = chat.send("hello")
    while len(turn.message.content) < 15:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    # A view created now (a reload) sees an old snapshot and then a later batch: a gap.
    late = ReferenceView(widget.snapshot, widget.head)
    start = len(widget.wire)
    while not any(k == "batch" for k, _ in widget.wire[start:]):
        await asyncio.sleep(0.01)
    for kind, payload in widget.wire[start:]:
        if kind == "batch":
            late.batch(payload)
    assert late.gaps >= 1
    widget._on_view_message(widget, {"type": "sync"}, [])
    late.hydrate(widget.snapshot)
    mark = len(widget.wire)
    chat.stop()
    message = await turn
    for kind, payload in widget.wire[mark:]:
        late.apply(kind, payload)
    assert late.texts[message.id] == message.content
    assert late.phase == "stopped"


async def test_view_requests_send_and_stop(slow_demo_server: DemoServer, tmp_path: Path) -> None:
    chat = chat_for(slow_demo_server, tmp_path)
    widget = RecordingWidget(chat)
    widget._on_view_message(widget, {"type": "send", "text": "from the browser"}, [])
    turn = chat.turn
    assert turn is not None and turn.user_message.content == "from the browser"
    widget._on_view_message(widget, {"type": "send", "text": "again"}, [])  # refused, logged
    widget._on_view_message(widget, {"type": "stop"}, [])
    message = await turn
    assert message.status == "stopped"
    assert [m.content for m in chat.messages if m.role == "user"] == ["from the browser"]
    widget._on_view_message(widget, {"type": "bogus"}, [])
    widget._on_view_message(widget, "not a dict", [])


async def test_retry_request_replaces_the_interrupted_reply(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    chat = Chat(fault_server.base("eof"), model="m", history=tmp_path / "h.db", name="r")
    widget = RecordingWidget(chat)
    view = ReferenceView(widget.snapshot, widget.head)
    failed = await chat.send("question")
    assert failed.status == "interrupted"
    widget._on_view_message(widget, {"type": "retry"}, [])
    turn = chat.turn
    assert turn is not None and turn.message is not failed
    again = await turn
    assert [m.role for m in chat.messages] == ["user", "assistant"]
    assert chat.messages[1] is again and again.content == "Half a reply"
    for kind, payload in widget.wire:
        view.apply(kind, payload)
    assert list(view.messages) == [chat.messages[0].id, again.id] and view.gaps == 0
    assert [op["id"] for op in widget.ops("remove")] == [failed.id]
    stored = Chat(fault_server.base("eof"), model="m", history=tmp_path / "h.db", name="r")
    assert [m.id for m in stored.messages] == [chat.messages[0].id, again.id]
    assert fault_server.log.requests[-1]["messages"] == [{"role": "user", "content": "question"}]


async def test_retry_needs_a_question_and_an_idle_chat(
    slow_demo_server: DemoServer, tmp_path: Path
) -> None:
    chat = chat_for(slow_demo_server, tmp_path)
    with pytest.raises(ConfigurationError, match="nothing to retry"):
        chat.retry()
    turn = chat.send("hello")
    with pytest.raises(TurnInProgressError):
        chat.retry()
    chat.stop()
    stopped = await turn
    assert stopped.status == "stopped"
    again = await chat.retry()  # a stopped reply can be asked again too
    assert again.status == "done" and len(chat.messages) == 2


async def test_notice_and_reconnecting_phase_reach_the_view(faults: Faults, tmp_path: Path) -> None:
    chat = Chat(faults.base("then-ok-429-seconds"), model="m", history=None)
    widget = RecordingWidget(chat)
    message = await chat.send("hi")
    assert message.status == "done"
    heads = [p for kind, p in widget.wire if kind == "head"]
    waiting = [h for h in heads if h["phase"] == "reconnecting"]
    assert waiting and "rate limited: retrying in" in waiting[0]["notice"]
    assert heads[-1]["notice"] == "" and heads[-1]["phase"] == "done"
    (last,) = [op for op in widget.ops("patch") if op["id"] == message.id][-1:]
    assert last["fields"]["metrics"]["retries"] == 1


async def test_reasoning_travels_in_its_own_ops(tmp_path: Path) -> None:
    class Thinking(Dialect):
        name = "thinking-test"
        end_marker = "done"

        def build_request(self, endpoint: Any, messages: Any) -> HttpRequest:
            return HttpRequest("POST", endpoint.base_url, {})

        def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
            if event.event == "done":
                self.finished = True
                return [Finished()]
            if event.event == "think":
                return [ReasoningDelta(event.data)]
            return [TextDelta(event.data)]

    register_dialect("thinking-test", Thinking)
    body = tmp_path / "thinking.sse"
    body.write_text("event: think\ndata: Hmm, \n\nevent: think\ndata: so.\n\n"
                    "data: Answer\n\nevent: done\ndata: .\n\n")  # fmt: skip
    chat = Chat(replay=body, dialect="thinking-test", replay_speed=10, history=None)
    widget = RecordingWidget(chat, interval=0.001)
    view = ReferenceView(widget.snapshot, widget.head)
    message = await chat.send("why?")
    for kind, payload in widget.wire:
        view.apply(kind, payload)
    assert widget.ops("reasoning")
    assert message.reasoning == "Hmm, so." and message.content == "Answer"
    assert view.reasoning[message.id] == "Hmm, so." and view.texts[message.id] == "Answer"


def test_chat_display_bundle_is_stable_and_safe(demo_server: DemoServer, tmp_path: Path) -> None:
    chat = chat_for(demo_server, tmp_path)
    data, _meta = chat._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith(
        f"Chat(model='demo', endpoint='{demo_server.base_url}', conversation='w', "
        "messages=0, state='idle')\n"
    )
    assert "0x" not in data["text/plain"] and "0x" not in repr(chat.widget)
    chat.messages.append(__import__("nbchat").Message("user", "<script>alert(1)</script>"))
    assert "<script>" not in chat.to_markdown() and "&lt;script&gt;" in chat.to_markdown()


def test_old_ipykernel_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import types

    from nbchat import chat as chat_module

    monkeypatch.setattr(chat_module, "_warned_kernel", False)
    monkeypatch.setitem(sys.modules, "ipykernel", types.SimpleNamespace(__version__="7.4.0"))
    assert chat_module.warn_if_old_ipykernel() is False
    monkeypatch.setitem(sys.modules, "ipykernel", types.SimpleNamespace(__version__="6.29.5"))
    with caplog.at_level("WARNING", logger="nbchat"):
        assert chat_module.warn_if_old_ipykernel() is True
        assert chat_module.warn_if_old_ipykernel() is False
    assert "ipykernel 6.29.5 cannot deliver Stop" in caplog.text


async def test_the_first_text_of_a_reply_goes_at_once() -> None:
    from tests.memory_transport import MemoryTransport, openai_body

    transport = MemoryTransport(openai_body("Hello", " there", "!"), pause=0.001)
    chat = Chat("http://model.test/v1", model="m", history=None, transport=transport)
    widget = RecordingWidget(chat, interval=60.0)  # later text waits for the turn's end
    sent_first: list[list[dict[str, Any]]] = []
    chat.subscribe(
        lambda c: (
            sent_first.append([b for k, b in widget.wire if k == "batch"])
            if isinstance(c, TextAppended) and c.text == " there"
            else None
        )
    )
    await chat.send("hi")
    # when the second piece arrived, the first had already gone to the browser
    texts = [op["text"] for b in sent_first[0] for op in b["ops"] if op["op"] == "text"]
    assert sent_first and texts == ["Hello"]


def test_a_long_chat_opens_on_its_last_page_and_pages_back() -> None:
    from nbchat import Message

    chat = Chat("http://model.test/v1", model="m", history=None)
    for i in range(120):
        chat.messages.append(Message("user", f"m{i}"))
    widget = RecordingWidget(chat)
    snap = widget.snapshot
    assert [m["content"] for m in snap["messages"]] == [f"m{i}" for i in range(70, 120)]
    assert snap["offset"] == 70
    widget._on_view_message(widget, {"type": "page", "before": snap["messages"][0]["id"]}, [])
    page = widget.wire[-1][1]
    assert page["type"] == "page" and page["offset"] == 20
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(20, 70)]
    widget._on_view_message(widget, {"type": "page", "before": page["messages"][0]["id"]}, [])
    assert [m["content"] for m in widget.wire[-1][1]["messages"]] == [f"m{i}" for i in range(20)]
    count = len(widget.wire)
    widget._on_view_message(widget, {"type": "page", "before": "no-such-id"}, [])
    # unknown: the view's copy is stale, so it gets a fresh snapshot (the last page)
    assert [kind for kind, _ in widget.wire[count:]] == ["snapshot"]
    assert widget.snapshot["offset"] == 70


async def test_a_lost_batch_is_noticed_by_the_head_trait() -> None:
    from tests.memory_transport import MemoryTransport, openai_body

    chat = Chat("http://model.test/v1", model="m", history=None,
                transport=MemoryTransport(openai_body("a", "b", "c")))  # fmt: skip
    widget = RecordingWidget(chat)
    view = ReferenceView(widget.snapshot, widget.head)
    await chat.send("hi")
    batches = [i for i, (kind, _) in enumerate(widget.wire) if kind == "batch"]
    lost = batches[-1]  # Jupyter Server dropped the last batch (the reply's end)
    for i, (kind, payload) in enumerate(widget.wire):
        if i != lost:
            view.apply(kind, payload)
    assert view.gaps == 1  # the head after it names a later seq: the view asks for a sync


async def test_a_view_that_missed_the_end_of_a_turn_is_resynced_by_its_stop() -> None:
    from tests.memory_transport import MemoryTransport, openai_body

    chat = Chat("http://model.test/v1", model="m", history=None,
                transport=MemoryTransport(openai_body("done")))  # fmt: skip
    widget = RecordingWidget(chat)
    await chat.send("hi")
    count = sum(kind == "snapshot" for kind, _ in widget.wire)
    # The final head was dropped on the way: the view still shows Stop, and it is pressed.
    widget._on_view_message(widget, {"type": "stop"}, [])
    snapshots = [p for kind, p in widget.wire if kind == "snapshot"]
    assert len(snapshots) == count + 1 and snapshots[-1]["phase"] == "done"
    assert snapshots[-1]["messages"][-1]["content"] == "done"

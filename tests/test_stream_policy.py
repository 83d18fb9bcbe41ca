"""Stream policy over real loopback: resume rules, two clocks, retries, refresh, redirects, gzip.

Each test asserts the error code (or success), what the history holds, the exact
final text and how many requests the server saw (a POST that starts work is never
sent twice unasked); the per-test timeout catches anything that would hang.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from nbchat import ChatController, RetryPolicy, Timeouts
from nbchat.changes import NoticeChanged, Phase, PhaseChanged, TextAppended
from nbchat.config import Endpoint
from nbchat.dialects import HttpRequest, register_dialect
from nbchat.dialects.openai_chat import OpenAIChatDialect
from nbchat.history import SqliteHistory
from nbchat.wire import ChatMessageParam
from tests.conftest import Faults
from tests.fault_streams import FULL, WORDS

FAST = RetryPolicy(backoff_s=0.05, max_backoff_s=0.2)


class GetChatDialect(OpenAIChatDialect):
    """OpenAI chunks from a GET stream (EventSource semantics: safe to re-open)."""

    name = "openai-chat-get"

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        return dataclasses.replace(super().build_request(endpoint, messages), method="GET")


register_dialect(GetChatDialect.name, GetChatDialect)
GET = {"dialect": GetChatDialect.name}


def make_chat(faults: Faults, case: str, tmp_path: Path, **kw: Any) -> ChatController:
    kw.setdefault("retry", FAST)
    kw.setdefault("api_key", "sk-test-secret-key-0123456789")
    return ChatController(
        faults.base(case), model="m", history=tmp_path / "h.sqlite3", name="t", **kw
    )


def stored(tmp_path: Path) -> list[tuple[str, str, str, str | None]]:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    try:
        return [(r.role, r.status, r.content, r.error_code) for r in store.load("t")]
    finally:
        store.close()


# -- resume ------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [GET, {"resumable": True}], ids=["get-stream", "declared"])
async def test_drop_with_ids_resumes_with_last_event_id(
    faults: Faults, tmp_path: Path, kw: dict[str, Any]
) -> None:
    chat = make_chat(faults, "drop-ids", tmp_path, **kw)
    phases: list[Phase] = []
    chat.subscribe(lambda c: phases.append(c.phase) if isinstance(c, PhaseChanged) else None)
    message = await chat.send("hi")
    assert message.status == "done", message.error
    assert message.content == FULL  # nothing missing, nothing twice
    assert message.metrics["reconnects"] == 1
    seen = faults.state.log("drop-ids")
    assert seen.count == 2
    assert "last-event-id" not in seen.headers[0]
    assert seen.headers[1]["last-event-id"] == "3"
    assert Phase.RECONNECTING in phases and phases[-1] is Phase.DONE
    assert stored(tmp_path) == [("user", "done", "hi", None), ("assistant", "done", FULL, None)]


@pytest.mark.parametrize(
    ("case", "words"),
    [("drop-ids", ["closed mid-reply"]), ("stall-mid-ids", ["sent nothing for 0.5 s"])],
)
async def test_a_post_with_ids_is_never_sent_twice(
    faults: Faults, tmp_path: Path, case: str, words: list[str]
) -> None:
    chat = make_chat(faults, case, tmp_path, timeouts=Timeouts(read=0.5))
    message = await chat.send("hi")
    assert message.status == "interrupted" and message.error is not None
    assert message.error["code"] == "INTERRUPTED" and "Retry" in message.error["hint"]
    for word in [*words, "not sent again"]:
        assert word in message.error["message"]
    assert faults.count(case) == 1  # the POST that started the reply was not re-sent
    assert message.content and FULL.startswith(message.content)
    assert stored(tmp_path)[-1][:2] == ("assistant", "interrupted")


async def test_drop_without_ids_is_interrupted_and_never_resent(
    faults: Faults, tmp_path: Path
) -> None:
    chat = make_chat(faults, "drop-no-ids", tmp_path, **GET)
    message = await chat.send("hi")
    assert message.status == "interrupted"
    assert message.error is not None and message.error["code"] == "INTERRUPTED"
    assert "closed mid-reply" in message.error["message"]
    assert "Retry" in message.error["hint"]
    assert message.content == "".join(WORDS[:3])
    assert faults.count("drop-no-ids") == 1  # no id to resume after: not re-opened
    assert stored(tmp_path)[-1] == ("assistant", "interrupted", "".join(WORDS[:3]), "INTERRUPTED")


async def test_reconnects_are_bounded(faults: Faults, tmp_path: Path) -> None:
    policy = RetryPolicy(max_reconnects=2, backoff_s=0.05)
    chat = make_chat(faults, "drop-always", tmp_path, retry=policy, **GET)
    message = await chat.send("hi")
    assert message.status == "interrupted"
    assert faults.count("drop-always") == 3
    assert message.metrics["reconnects"] == 2
    # each connection resumed after the last id it saw: the text is whole, once
    assert message.content == FULL[: len(message.content)]
    assert message.content.startswith("".join(WORDS[:3]))


async def test_clean_eof_before_done_with_ids_resumes(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "eof-ids", tmp_path, **GET)
    message = await chat.send("hi")
    assert message.status == "done" and message.content == FULL
    assert faults.state.log("eof-ids").headers[1]["last-event-id"] == "2"


async def test_a_post_ending_cleanly_before_done_is_not_resent(
    faults: Faults, tmp_path: Path
) -> None:
    message = await make_chat(faults, "eof-ids", tmp_path).send("hi")
    assert message.status == "interrupted" and message.content == "".join(WORDS[:2])
    assert message.error is not None and "[DONE]" in message.error["message"]
    assert faults.count("eof-ids") == 1


async def test_a_server_that_ignores_last_event_id_shows_no_text_twice(
    faults: Faults, tmp_path: Path
) -> None:
    chat = make_chat(faults, "restart-ignores-id", tmp_path, **GET)
    message = await chat.send("hi")
    assert message.status == "done" and message.content == FULL


async def test_retry_field_sets_the_reconnect_wait(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "retry-300", tmp_path, retry=RetryPolicy(jitter=0.0), **GET)
    message = await chat.send("hi")
    assert message.content == FULL
    times = faults.state.log("retry-300").times
    assert 0.3 <= times[1] - times[0] < 0.9


async def test_the_retry_field_is_a_minimum_even_with_jitter(
    faults: Faults, tmp_path: Path
) -> None:
    chat = make_chat(faults, "retry-300", tmp_path, retry=RetryPolicy(jitter=1.0), **GET)
    assert (await chat.send("hi")).content == FULL
    times = faults.state.log("retry-300").times
    assert times[1] - times[0] >= 0.3
    policy, rng = RetryPolicy(jitter=1.0), random.Random(7)
    for attempt in (1, 2, 5):
        waits = [policy.reconnect_wait(attempt, 0.2, rng) for _ in range(1000)]
        assert min(waits) >= 0.2 * min(2 ** (attempt - 1), 40)


async def test_bogus_retry_values_are_ignored(faults: Faults, tmp_path: Path) -> None:
    # "retry: -5" and "retry: 1e3" are not all ASCII digits: the 1 s default applies.
    chat = make_chat(faults, "retry-bogus", tmp_path, retry=RetryPolicy(jitter=0.0), **GET)
    message = await chat.send("hi")
    assert message.content == FULL
    times = faults.state.log("retry-bogus").times
    assert 0.95 <= times[1] - times[0] < 2.0


# -- two clocks: read (silence) and idle (no new output) ----------------------------------


async def test_no_response_within_the_read_timeout_names_the_wait(
    faults: Faults, tmp_path: Path
) -> None:
    chat = make_chat(faults, "stall-headers", tmp_path, timeouts=Timeouts(read=0.5))
    started = time.monotonic()
    message = await chat.send("hi")
    assert time.monotonic() - started < 2.0
    assert message.error is not None and message.error["code"] == "STALLED"
    assert "no response within 0.5 s" in message.error["message"]
    assert faults.count("stall-headers") == 1  # a stall is not retried
    assert stored(tmp_path)[-1] == ("assistant", "error", "", "STALLED")


async def test_silence_mid_stream_keeps_the_text(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "stall-mid", tmp_path, timeouts=Timeouts(read=0.5))
    message = await chat.send("hi")
    assert message.error is not None and message.error["code"] == "INTERRUPTED"
    assert "sent nothing for 0.5 s" in message.error["message"]
    assert message.content == "".join(WORDS[:2])
    assert faults.count("stall-mid") == 1
    assert stored(tmp_path)[-1] == ("assistant", "interrupted", "".join(WORDS[:2]), "INTERRUPTED")


async def test_silence_on_a_get_stream_with_ids_reconnects(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "stall-mid-ids", tmp_path, timeouts=Timeouts(read=0.5), **GET)
    message = await chat.send("hi")
    assert message.status == "done" and message.content == FULL
    assert message.metrics["reconnects"] == 1 and faults.count("stall-mid-ids") == 2


async def test_keep_alives_longer_than_the_read_timeout_end_normally(
    faults: Faults, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("nbchat.turn.WAITING_AFTER_S", 1.0)
    chat = make_chat(faults, "keepalive", tmp_path, timeouts=Timeouts(read=0.6))
    notices: list[tuple[str, Phase]] = []
    chat.subscribe(
        lambda c: notices.append((c.notice, chat.state)) if isinstance(c, NoticeChanged) else None
    )
    message = await chat.send("hi")
    assert message.status == "done", message.error
    assert message.content == "Hi" + FULL
    waiting = [(n, p) for n, p in notices if n.startswith("waiting for the model")]
    assert waiting and all(p is Phase.STREAMING for _, p in waiting)  # not reconnecting
    assert all(
        re.fullmatch(r"waiting for the model: no new output for \d s", n) for n, _ in waiting
    )
    assert notices[-1][0] == "" and chat.notice == ""
    assert faults.count("keepalive") == 1


async def test_the_idle_limit_ends_a_live_but_silent_turn(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "keepalive", tmp_path, timeouts=Timeouts(read=5, idle=1.0))
    started = time.monotonic()
    message = await chat.send("hi")
    assert time.monotonic() - started < 2.5
    assert message.error is not None and message.error["code"] == "STALLED"
    assert "no new output for 1 s" in message.error["message"]
    assert "idle" in message.error["message"] and message.content == "Hi"
    assert faults.count("keepalive") == 1


async def test_stop_works_during_a_silence(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "stall-mid", tmp_path, timeouts=Timeouts(read=30))
    turn = chat.send("hi")
    while chat.state is not Phase.STREAMING:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    started = time.monotonic()
    chat.stop()
    message = await turn
    assert time.monotonic() - started < 0.5
    assert message.status == "stopped" and message.content == "".join(WORDS[:2])


async def test_one_byte_every_50_ms_is_progress_enough(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "drip", tmp_path, timeouts=Timeouts(read=2))
    texts: list[float] = []
    chat.subscribe(
        lambda c: texts.append(time.monotonic()) if isinstance(c, TextAppended) else None
    )
    started = time.monotonic()
    message = await chat.send("hi")
    assert message.status == "done" and message.content == "hi"
    # the text is shown when its event completes, before the rest has dripped in
    assert texts and texts[0] < time.monotonic() - 0.5
    assert time.monotonic() - started > 2.5


# -- retries before any byte -------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "low", "high"),
    [
        ("then-ok-429-seconds", 0.95, 2.0),
        ("then-ok-429-date", 0.9, 3.2),
        ("then-ok-429-ms", 0.19, 0.9),
        ("then-ok-503-seconds", 0.95, 2.0),
    ],
)
async def test_retry_after_is_honoured(
    faults: Faults, tmp_path: Path, case: str, low: float, high: float
) -> None:
    chat = make_chat(faults, case, tmp_path)
    notices: list[str] = []
    chat.subscribe(lambda c: notices.append(c.notice) if isinstance(c, NoticeChanged) else None)
    message = await chat.send("hi")
    assert message.status == "done" and message.content == FULL
    assert message.metrics["retries"] == 1
    times = faults.state.log(case).times
    assert low <= times[1] - times[0] < high
    assert any("retrying in" in n for n in notices) and notices[-1] == ""
    assert stored(tmp_path)[-1] == ("assistant", "done", FULL, None)


async def test_a_retry_after_beyond_the_cap_fails_at_once(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "then-ok-429-long", tmp_path)
    started = time.monotonic()
    message = await chat.send("hi")
    assert time.monotonic() - started < 1.0
    assert message.error is not None and message.error["code"] == "RATE_LIMITED"
    assert "3600 s" in message.error["message"] and "max_wait_s" in message.error["message"]
    assert faults.count("then-ok-429-long") == 1


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_transient_statuses_are_retried(faults: Faults, tmp_path: Path, status: int) -> None:
    case = f"then-ok-{status}"
    message = await make_chat(faults, case, tmp_path).send("hi")
    assert message.status == "done" and message.content == FULL
    assert faults.count(case) == 2 and message.metrics["retries"] == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "VALIDATION_ERROR"),
        (401, "AUTHENTICATION_ERROR"),
        (403, "AUTHENTICATION_ERROR"),
        (404, "NOT_FOUND"),
        (422, "VALIDATION_ERROR"),
    ],
)
async def test_client_errors_are_not_retried(
    faults: Faults, tmp_path: Path, status: int, code: str
) -> None:
    case = f"then-ok-{status}"
    message = await make_chat(faults, case, tmp_path).send("hi")
    assert message.error is not None and message.error["code"] == code
    assert f"HTTP {status}" in message.error["message"]
    assert faults.count(case) == 1
    assert stored(tmp_path)[-1] == ("assistant", "error", "", code)


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("always-500-json", "SERVER_ERROR", ["HTTP 500", "AI_ERROR", "after 3 retries"]),
        ("always-500-html", "SERVER_ERROR", ["HTTP 500", "Gateway Timeout", "after 3 retries"]),
        ("always-500-empty", "SERVER_ERROR", ["HTTP 500", "after 3 retries"]),
        ("always-413-json", "REQUEST_TOO_LARGE", ["HTTP 413", "too large for the server"]),
        ("always-502-json", "SERVER_ERROR", ["HTTP 502", "model crashed", "after 3 retries"]),
        ("always-502-html", "SERVER_ERROR", ["HTTP 502", "Gateway Timeout", "after 3 retries"]),
        ("always-502-empty", "SERVER_ERROR", ["HTTP 502", "after 3 retries"]),
        ("always-503-json", "SERVER_ERROR", ["HTTP 503", "AI_ERROR", "after 3 retries"]),
        ("always-503-html", "SERVER_ERROR", ["HTTP 503", "Gateway Timeout", "after 3 retries"]),
        ("always-503-empty", "SERVER_ERROR", ["HTTP 503", "after 3 retries"]),
        ("always-429-json", "RATE_LIMITED", ["HTTP 429", "after 3 retries"]),
    ],
)
async def test_server_errors_name_their_cause(
    faults: Faults, tmp_path: Path, case: str, code: str, words: list[str]
) -> None:
    message = await make_chat(faults, case, tmp_path).send("hi")
    assert message.error is not None and message.error["code"] == code
    for word in words:
        assert word in message.error["message"]
    assert "<html" not in message.error["message"]
    retried = "after 3 retries" in words
    assert faults.count(case) == (4 if retried else 1)


async def test_stop_works_during_a_retry_wait(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "then-ok-429-date", tmp_path)
    turn = chat.send("hi")
    while chat.state is not Phase.RECONNECTING:
        await asyncio.sleep(0.01)
    assert "rate limited" in chat.notice
    started = time.monotonic()
    chat.stop()
    message = await turn
    assert time.monotonic() - started < 0.5
    assert message.status == "stopped" and chat.notice == ""
    assert faults.count("then-ok-429-date") == 1


async def test_a_closed_connection_before_any_byte_is_retried(tmp_path: Path) -> None:
    connections = 0
    body = b'data: {"choices":[{"delta":{"content":"back"}}]}\n\ndata: [DONE]\n\n'

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        if connections > 1:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        chat = ChatController(f"http://127.0.0.1:{port}", model="m", history=None, retry=FAST)
        message = await chat.send("hi")
    finally:
        server.close()
        await server.wait_closed()
    assert message.status == "done" and message.content == "back"
    assert connections == 2 and message.metrics["retries"] == 1


async def test_refused_connections_are_retried_then_named(tmp_path: Path) -> None:
    from tests.net import free_port

    port = free_port()
    chat = ChatController(f"http://127.0.0.1:{port}/v1", model="m", history=None, retry=FAST)
    notices: list[str] = []
    chat.subscribe(lambda c: notices.append(c.notice) if isinstance(c, NoticeChanged) else None)
    message = await chat.send("hi")
    assert message.error is not None and message.error["code"] == "CONNECTION_ERROR"
    assert f"127.0.0.1:{port}" in message.error["message"]
    assert "after 3 retries" in message.error["message"]
    assert sum("retrying in" in n for n in notices) == 3


# -- 401 and token refresh ---------------------------------------------------------------


async def test_401_calls_token_refresh_once_and_retries(faults: Faults, tmp_path: Path) -> None:
    calls: list[int] = []

    async def refresh() -> str:
        calls.append(1)
        return "fresh-token"

    chat = make_chat(faults, "401-refresh", tmp_path, api_key="stale-token", token_refresh=refresh)
    message = await chat.send("hi")
    assert message.status == "done" and message.content == FULL
    assert calls == [1]
    headers = faults.state.log("401-refresh").headers
    assert [h["authorization"] for h in headers] == ["Bearer stale-token", "Bearer fresh-token"]
    await chat.send("again")  # the new key stays
    assert faults.state.log("401-refresh").headers[-1]["authorization"] == "Bearer fresh-token"
    assert calls == [1]


async def test_a_refresh_that_does_not_help_is_an_authentication_error(
    faults: Faults, tmp_path: Path
) -> None:
    chat = make_chat(faults, "401-refresh", tmp_path, api_key="a", token_refresh=lambda: "b")
    message = await chat.send("hi")
    assert message.error is not None and message.error["code"] == "AUTHENTICATION_ERROR"
    assert "token expired" in message.error["message"]
    assert faults.count("401-refresh") == 2


async def test_401_without_refresh_is_an_authentication_error(
    faults: Faults, tmp_path: Path
) -> None:
    message = await make_chat(faults, "401-refresh", tmp_path).send("hi")
    assert message.error is not None and message.error["code"] == "AUTHENTICATION_ERROR"
    assert faults.count("401-refresh") == 1
    assert "sk-test-secret" not in str(message.error)


async def test_a_failing_refresh_is_named(faults: Faults, tmp_path: Path) -> None:
    def broken() -> str:
        raise RuntimeError("vault unreachable")

    chat = make_chat(faults, "401-refresh", tmp_path, token_refresh=broken)
    message = await chat.send("hi")
    assert message.error is not None and message.error["code"] == "AUTHENTICATION_ERROR"
    assert "token_refresh failed: RuntimeError: vault unreachable" in message.error["message"]


# -- redirects, encodings, sizes ---------------------------------------------------------


@pytest.mark.parametrize("case", ["redirect-307", "redirect-308"])
async def test_307_and_308_keep_method_body_and_key(
    faults: Faults, tmp_path: Path, case: str
) -> None:
    message = await make_chat(faults, case, tmp_path).send("hi")
    assert message.status == "done" and message.content == FULL
    target = faults.state.log("redirect-target")
    assert target.count == 1
    assert target.bodies[0] == faults.state.log(case).bodies[0]  # same JSON body, POST again
    assert target.headers[0]["authorization"] == "Bearer sk-test-secret-key-0123456789"


async def test_a_cross_origin_redirect_does_not_leak_the_key(
    faults: Faults, tmp_path: Path
) -> None:
    headers = {"x-api-key": "sk-ant-other-secret-0123456789"}
    message = await make_chat(faults, "redirect-cross", tmp_path, headers=headers).send("hi")
    assert message.error is not None and message.error["code"] == "AUTHENTICATION_ERROR"
    assert faults.state.other_origin in message.error["message"]
    target = faults.state.log("redirect-target").headers[0]
    assert "authorization" not in target and "x-api-key" not in target


async def test_other_redirects_name_the_target(faults: Faults, tmp_path: Path) -> None:
    message = await make_chat(faults, "redirect-302", tmp_path).send("hi")
    assert message.error is not None
    assert "redirect-target" in message.error["message"] and "base_url" in message.error["message"]
    loop = await make_chat(faults, "redirect-loop", tmp_path).send("hi")
    assert loop.error is not None and loop.error["code"] == "PROTOCOL_ERROR"
    assert "more than 5 redirects" in loop.error["message"]


async def test_gzip_streams_decode_as_they_arrive(faults: Faults, tmp_path: Path) -> None:
    chat = make_chat(faults, "gzip", tmp_path)
    arrivals: list[float] = []
    chat.subscribe(
        lambda c: arrivals.append(time.monotonic()) if isinstance(c, TextAppended) else None
    )
    message = await chat.send("hi")
    assert message.status == "done" and message.content == FULL
    assert faults.state.log("gzip").headers[0]["accept-encoding"].count("gzip")
    # the first word was shown at least a second before the server finished writing
    assert faults.state.finished["gzip"] - arrivals[0] > 0.9


async def test_invalid_utf8_becomes_replacement_characters(faults: Faults, tmp_path: Path) -> None:
    message = await make_chat(faults, "invalid-utf8", tmp_path).send("hi")
    assert message.status == "done"
    assert message.content == "caf\ufffd\ufffd!"  # the charset=latin-1 is ignored: UTF-8


async def test_a_10_mib_event(faults: Faults, tmp_path: Path) -> None:
    message = await make_chat(faults, "big-event", tmp_path).send("hi")
    assert message.status == "done"
    assert len(message.content) == 10 * 1024 * 1024 and set(message.content) == {"x"}
    assert stored(tmp_path)[-1][2] == message.content

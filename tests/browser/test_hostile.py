"""The hostile-reply corpus in real Chromium: nothing runs, navigates, overlays or leaks.

Every case of ``tests/hostile_corpus.py`` is shown three ways: streamed live (cut into
small chunks, rendered frame by frame, so a payload split across chunks is tried at
many cuts), as history after a reload (one snapshot), and as the static transcript a
saved notebook shows (``nbchat.transcript``, loaded as a page of its own, the way
nbconvert's HTML is opened). A positive control puts the same payloads into the page
with no rules and sees them run: the checks would catch a hit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbchat import Message
from nbchat.accumulate import Reply
from nbchat.transcript import Transcript
from tests.browser.harness import Harness, harness
from tests.hostile_corpus import RAW_HITS_AT_LEAST, corpus

pytestmark = pytest.mark.timeout(300)

CHUNK = 5  # characters a batch: payloads are cut at many places

#: the in-page half: window.hostile.{check, streamAll, showAll, unsafeAll}
PAGE_JS = (Path(__file__).parent / "hostile.js").read_text()


def open_page(h: Harness) -> None:
    h.open()
    h.page.add_script_tag(content=PAGE_JS)


@pytest.fixture(scope="module")
def page() -> Iterator[Harness]:
    with harness() as found:
        yield found


def verdict(h: Harness, scope: str) -> dict[str, Any]:
    result: dict[str, Any] = h.call("(scope) => window.hostile.check(scope)", scope)
    result["dialogs"] = list(h.dialogs)
    result["leaks"] = list(h.leaks)
    h.dialogs.clear()
    h.leaks.clear()
    return result


def case_of(message_id: str, cases: list[str]) -> str:
    return cases[int(message_id[1:])] if message_id[:1] == "c" else ""


def assert_inert(result: dict[str, Any], h: Harness, cases: list[str]) -> None:
    named = [(case_of(b["id"], cases), b["why"]) for b in result["bad"]]
    assert not named, named[:10]
    assert result["pwned"] == 0 and not result["dialogs"], result
    assert not result["leaks"], result["leaks"]
    assert result["url"] == h.url, "the page navigated"


def test_the_corpus_is_big_enough() -> None:
    assert len(corpus()) >= 150


def test_streamed_live_nothing_runs(page: Harness) -> None:
    cases = corpus()
    open_page(page)
    assert page.call("(a) => window.hostile.streamAll(a)", [cases, CHUNK]) == len(cases)
    assert_inert(verdict(page, "#out .nbchat-messages"), page, cases)


def test_history_after_a_reload_nothing_runs(page: Harness) -> None:
    cases = corpus()
    open_page(page)
    assert page.call("(c) => window.hostile.showAll(c)", cases) == len(cases)
    assert_inert(verdict(page, "#out .nbchat-messages"), page, cases)


def test_reasoning_tools_errors_and_progress_nothing_runs(page: Harness) -> None:
    cases = corpus()
    open_page(page)
    assert page.call("(c) => window.hostile.showEverywhere(c)", cases) == len(cases)
    assert_inert(verdict(page, "#out .nbchat-messages"), page, cases)


def everywhere(text: str) -> Message:
    """A reply with ``text`` in its content, reasoning, a tool call and its error."""
    call = {"id": "t", "name": text, "arguments": text, "result": text, "status": "done"}
    reply = Reply.restore(text, reasoning=text, tool_calls=[call])
    message = Message("assistant", reply=reply, status="error")
    reply.fail("PROVIDER_ERROR", text)
    return message


def test_the_static_transcript_nothing_runs(page: Harness) -> None:
    cases = corpus()
    for start in range(0, len(cases), 50):
        batch = cases[start : start + 50]
        shown = Transcript([everywhere(text) for text in batch], model="m", location="x")
        html = shown.html("0123456789abcdef")
        page.page.set_content(
            "<!doctype html><meta charset=utf-8><script>window.__pwned = 0;"
            "window.__pwn = () => { window.__pwned += 1; };</script>"
            f'<div id="transcript">{html}</div>'
        )
        page.page.add_script_tag(content=PAGE_JS)
        page.page.wait_for_timeout(100)
        result = verdict(page, "#transcript")
        result["url"] = page.url  # set_content leaves the page at the harness URL
        assert_inert(result, page, batch)


def test_the_checks_catch_a_renderer_without_rules(page: Harness) -> None:
    """Positive control: the same payloads put into the page raw are caught."""
    # (Without the meta refresh vectors: run raw, they navigate the page away, which
    # would end the control before it counts the rest.)
    cases = [case for case in corpus() if "<meta" not in case.lower()]
    open_page(page)
    page.call("(c) => window.hostile.unsafeAll(c)", cases)
    result = verdict(page, "#unsafe")
    hits = len(result["bad"]) + result["pwned"] + len(result["dialogs"]) + len(result["leaks"])
    assert len(result["bad"]) >= RAW_HITS_AT_LEAST, result["bad"][:5]
    assert result["pwned"] + len(result["dialogs"]) >= 1, "no payload ran without the rules"
    assert result["leaks"], "no remote request without the rules"
    assert hits >= RAW_HITS_AT_LEAST

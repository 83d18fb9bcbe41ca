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
from typing import Any

import pytest

from nbchat import Message
from nbchat.transcript import to_html
from tests.browser.harness import Harness, harness
from tests.hostile_corpus import RAW_HITS_AT_LEAST, corpus

pytestmark = pytest.mark.timeout(300)

CHUNK = 5  # characters a batch: payloads are cut at many places

# What must never be found inside a scope, and where the input box must still be on top.
CHECK = """(scopeSelector) => {
  const scope = document.querySelector(scopeSelector);
  const bad = [];
  const note = (el, why) => {
    const owner = el.closest && el.closest('.nbchat-message, [data-role]');
    bad.push({ id: owner ? (owner.dataset.id || owner.dataset.case || '') : '', why });
  };
  const banned = 'script, iframe, frame, object, embed, form, base, link, meta, style, svg, '
    + 'video, audio, source, picture, textarea, select';
  for (const el of scope.querySelectorAll(banned)) note(el, '<' + el.localName + '>');
  for (const el of scope.querySelectorAll('img')) {
    const src = el.getAttribute('src') || '';
    if (!/^data:image\\/(png|jpeg|gif|webp);/i.test(src)) note(el, 'img ' + src.slice(0, 40));
  }
  for (const el of scope.querySelectorAll('input')) {
    if (el.type !== 'checkbox' || !el.disabled) note(el, 'input ' + el.type);
  }
  for (const el of scope.querySelectorAll('*')) {
    for (const { name, value } of Array.from(el.attributes)) {
      if (/^on/i.test(name)) note(el, 'handler ' + name);
      if (['style', 'id', 'name', 'srcset', 'poster', 'action', 'formaction', 'xlink:href'].includes(name.toLowerCase())) {
        note(el, 'attribute ' + name);
      }
      if (name === 'href' && !/^(https?:|mailto:)/i.test(value.trim())) note(el, 'href ' + value.slice(0, 40));
    }
    const position = getComputedStyle(el).position;
    if ((position === 'fixed' || position === 'sticky') && !el.closest('.nbchat-jump')) note(el, 'position ' + position);
  }
  const input = document.querySelector('.nbchat-input');
  if (input) {
    const box = input.getBoundingClientRect();
    const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (top !== input) bad.push({ id: '', why: 'the input box is covered by ' + (top ? top.outerHTML.slice(0, 60) : 'nothing') });
  }
  return { bad, pwned: window.__pwned || 0, url: location.href };
}"""

STREAM_ALL = """async ([cases, chunk]) => {
  const nb = window.nb;
  window.__pwned = 0;
  window.__pwn = () => { window.__pwned += 1; };
  const messages = cases.map((_, i) => nb.message('c' + i, 'assistant', '', { status: 'streaming' }));
  nb.mount(nb.snapshot({ phase: 'streaming', messages }));
  const longest = Math.max(...cases.map((c) => c.length));
  let seq = 0;
  for (let at = 0; at < longest; at += chunk) {
    const ops = [];
    cases.forEach((text, i) => { const piece = text.slice(at, at + chunk); if (piece) ops.push(['c' + i, piece]); });
    seq += 1;
    nb.custom(nb.batch(seq, ops));
    await nb.frame();
  }
  nb.setSnapshot(nb.snapshot({ seq, phase: 'done', messages: cases.map((text, i) => nb.message('c' + i, 'assistant', text)) }));
  await nb.frame(); await nb.frame();
  return document.querySelectorAll('.nbchat-message').length;
}"""

SHOW_ALL = """async (cases) => {
  const nb = window.nb;
  window.__pwned = 0;
  window.__pwn = () => { window.__pwned += 1; };
  nb.mount(nb.snapshot({ phase: 'done', messages: cases.map((text, i) => nb.message('c' + i, 'assistant', text)) }));
  await nb.frame(); await nb.frame();
  return document.querySelectorAll('.nbchat-message').length;
}"""

UNSAFE_ALL = """async (cases) => {
  window.__pwned = 0;
  window.__pwn = () => { window.__pwned += 1; };
  window.nb.unsafe(cases.map((c) => '<div data-case="' + c.length + '">' + c + '</div>').join(''));
  await new Promise((resolve) => setTimeout(resolve, 500));
  return true;
}"""


@pytest.fixture(scope="module")
def page() -> Iterator[Harness]:
    with harness() as found:
        yield found


def verdict(h: Harness, scope: str) -> dict[str, Any]:
    result: dict[str, Any] = h.call(CHECK, scope)
    result["dialogs"] = list(h.dialogs)
    result["leaks"] = list(h.leaks)
    h.dialogs.clear()
    h.leaks.clear()
    return result


def assert_inert(result: dict[str, Any], h: Harness, cases: list[str]) -> None:
    named = [(cases[int(b["id"][1:])] if b["id"][:1] == "c" else "", b["why"]) for b in result["bad"]]
    assert not named, named[:10]
    assert result["pwned"] == 0 and not result["dialogs"], result
    assert not result["leaks"], result["leaks"]
    assert result["url"] == h.url, "the page navigated"


def test_the_corpus_is_big_enough() -> None:
    assert len(corpus()) >= 150


def test_streamed_live_nothing_runs(page: Harness) -> None:
    cases = corpus()
    page.open()
    assert page.call(STREAM_ALL, [cases, CHUNK]) == len(cases)
    assert_inert(verdict(page, "#out .nbchat-messages"), page, cases)


def test_history_after_a_reload_nothing_runs(page: Harness) -> None:
    cases = corpus()
    page.open()
    assert page.call(SHOW_ALL, cases) == len(cases)
    assert_inert(verdict(page, "#out .nbchat-messages"), page, cases)


def test_the_static_transcript_nothing_runs(page: Harness) -> None:
    cases = corpus()
    for start in range(0, len(cases), 50):
        batch = cases[start : start + 50]
        html = to_html(
            [Message("assistant", text) for text in batch],
            model="m",
            location="x",
            transcript_id="0123456789abcdef",
        )
        page.page.set_content(
            "<!doctype html><meta charset=utf-8><script>window.__pwned = 0;"
            "window.__pwn = () => { window.__pwned += 1; };</script>"
            f'<div id="transcript">{html}</div>'
        )
        page.page.wait_for_timeout(100)
        result = verdict(page, "#transcript")
        result["url"] = page.url  # set_content leaves the page at the harness URL
        assert_inert(result, page, batch)


def test_the_checks_catch_a_renderer_without_rules(page: Harness) -> None:
    """Positive control: the same payloads put into the page raw are caught."""
    # (Without the meta refresh vectors: run raw, they navigate the page away, which
    # would end the control before it counts the rest.)
    cases = [case for case in corpus() if "<meta" not in case.lower()]
    page.open()
    page.call(UNSAFE_ALL, cases)
    result = verdict(page, "#unsafe")
    hits = len(result["bad"]) + result["pwned"] + len(result["dialogs"]) + len(result["leaks"])
    assert len(result["bad"]) >= RAW_HITS_AT_LEAST, result["bad"][:5]
    assert result["pwned"] + len(result["dialogs"]) >= 1, "no payload ran without the rules"
    assert result["leaks"], "no remote request without the rules"
    assert hits >= RAW_HITS_AT_LEAST

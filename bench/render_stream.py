"""Streaming-render benchmark: a 100,000-token Markdown reply in headless Chromium.

The built widget on a fake model (``tests/browser/harness.py``: no Jupyter) receives a
reply of mixed Markdown (headings, paragraphs, lists, tables, code, math) as the kernel
sends it: a batch every 30 ms, each with the tokens of that interval, at a rate far
above any model's. Measured in the page while it streams: the worst long task (Long
Tasks API), the p95 gap between animation frames, and the main thread's total task
time (Chrome's ``Performance.getMetrics``). The baseline, in the same run: the same
reply rendered once, whole, in one go. Also printed: the same reply opened as history
(a finished message renders in slices a frame apart), time to its last block and its
worst long task.  Run: ``make bench``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbchat.server.demo_model import split_tokens
from tests.browser.harness import harness

TOKENS = 100_000
BATCH_MS = 30
PER_BATCH = 150  # 5,000 tokens/s: some 50x a fast model


def reply(tokens: int) -> list[str]:
    """Deterministic mixed Markdown, cut into token-like pieces."""
    sections: list[str] = []
    pieces: list[str] = []
    i = 0
    while len(pieces) < tokens:
        sections.append(
            f"## Part {i}\n\nThis paragraph explains step {i} with **bold words**, `inline code`, "
            f"a [link](https://example.com/{i}) and some *emphasis* so the inline rules work "
            "as hard as in a real answer. "
            * 3
            + "\n\n- first point with `code`\n- second point\n  - nested point\n- third point\n\n"
            "| name | value | note |\n|---|---:|---|\n"
            + "".join(f"| row {r} | {r * i} | text {r} |\n" for r in range(5))
            + "\n```python\n"
            + "".join(f"def step_{i}_{n}(x):\n    return x * {n}  # comment\n\n" for n in range(6))
            + "```\n\nThe area is $\\pi r^2$ and\n\n$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$\n\n"
        )
        pieces = split_tokens("".join(sections))
        i += 1
    return pieces[:tokens]


#: the in-page half: window.bench.stream / window.bench.once
PAGE_JS = (Path(__file__).parent / "render_stream.js").read_text()


def task_seconds(cdp: object) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]  # type: ignore[attr-defined]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def main() -> None:
    pieces = reply(TOKENS)
    text = "".join(pieces)
    with harness() as h:
        cdp = h.page.context.new_cdp_session(h.page)
        cdp.send("Performance.enable")
        before = task_seconds(cdp)
        h.page.add_script_tag(content=PAGE_JS)
        once = h.call("(text) => window.bench.once(text)", text)
        once_cpu = task_seconds(cdp) - before
        h.open()  # a fresh page for the history
        h.page.add_script_tag(content=PAGE_JS)
        history = h.call("(text) => window.bench.history(text)", text)
        h.open()  # a fresh page for the stream
        cdp = h.page.context.new_cdp_session(h.page)
        cdp.send("Performance.enable")
        before = task_seconds(cdp)
        h.page.add_script_tag(content=PAGE_JS)
        streamed = h.call("(args) => window.bench.stream(args)", [pieces, PER_BATCH, BATCH_MS])
        stream_cpu = task_seconds(cdp) - before
    gaps = sorted(streamed["frames"][1:])
    p95 = gaps[int(len(gaps) * 0.95)] if gaps else 0.0
    print(
        f"a {TOKENS:,}-token Markdown reply ({len(text) / 1e6:.1f} MB), "
        f"{PER_BATCH} tokens a batch every {BATCH_MS} ms, headless Chromium"
    )
    median = statistics.median(gaps) if gaps else 0.0
    print(f"  streamed : {streamed['elapsed'] / 1000:6.1f} s, worst long task "
          f"{max(streamed['tasks'], default=0):5.0f} ms ({len(streamed['tasks'])} over 50 ms), "
          f"p95 frame gap {p95:5.1f} ms (median {median:4.1f})")  # fmt: skip
    print(f"  whole once: {once['elapsed']:6.0f} ms, worst long task "
          f"{max(once['tasks'], default=0):5.0f} ms")  # fmt: skip
    print(f"  as history: {history['elapsed']:6.0f} ms to its last block, worst long task "
          f"{max(history['tasks'], default=0):5.0f} ms")  # fmt: skip
    print(f"  main-thread task time: streamed {stream_cpu:6.2f} s, once {once_cpu:6.2f} s, "
          f"ratio {stream_cpu / once_cpu if once_cpu else float('nan'):5.1f}")  # fmt: skip
    assert streamed["shown"] > 0.5 * len(text), "the reply did not render"


if __name__ == "__main__":
    main()

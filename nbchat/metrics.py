"""Reply metrics: time to first token, tokens per second, duration.

The clock is injected (``time.monotonic`` by default) so the maths can be tested
without sleeping. Tokens are the provider's reported output tokens when it reports
them, else the number of text deltas (about one token each for every major API).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nbchat.accumulate import Reply
from nbchat.events import ToolCallFinished, ToolCallStarted
from nbchat.wire import MetricsInfo

Clock = Callable[[], float]


class ReplyTimer:
    """Times one reply: call ``token`` per text delta and ``stop`` at the end."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.first_token: float | None = None
        self.last_token: float | None = None
        self.ended: float | None = None
        self.deltas = 0

    def token(self, count: int = 1) -> bool:
        """Count ``count`` text deltas that arrived now; True for the reply's first."""
        now = self._clock()
        self.deltas += count
        self.last_token = now
        if self.first_token is None:
            self.first_token = now
            return True
        return False

    def stop(self) -> None:
        if self.ended is None:
            self.ended = self._clock()

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    def tokens_per_s(self, tokens: int) -> float | None:
        """Generation speed after the first token: tokens over first-to-last-token time."""
        if self.first_token is None or self.last_token is None or tokens < 2:
            return None
        span = self.last_token - self.first_token
        return (tokens - 1) / span if span > 0 else None

    def info(self, reply: Reply | None = None) -> MetricsInfo:
        """What was measured, as the widget and history store it (rounded).

        Tokens are the provider's reported output tokens in ``reply`` when it has
        them, else the number of text deltas.
        """
        reported = reply.output_tokens if reply is not None else None
        tokens = reported if reported is not None else self.deltas
        out: MetricsInfo = {}
        ttft = self.ttft_s
        if ttft is not None:
            out["ttft_s"] = round(ttft, 4)
        rate = self.tokens_per_s(tokens)
        if rate is not None:
            out["tokens_per_s"] = round(rate, 2)
        end = self.ended if self.ended is not None else self._clock()
        out["duration_s"] = round(end - self.started, 4)
        if tokens:
            out["output_tokens"] = tokens
        if reply is not None and reply.input_tokens is not None:
            out["input_tokens"] = reply.input_tokens
        return out


def rescaled(info: MetricsInfo, time_scale: float | None) -> MetricsInfo:
    """Times measured on a stream whose pace is not the real one, as they really were.

    ``time_scale``: measured seconds times it are real seconds (a replay at speed 3
    has 3); None when the pace was made up: then no time or rate is reported at all.
    """
    if time_scale == 1.0:
        return info
    out = MetricsInfo(**info)
    if time_scale is None:
        for key in ("ttft_s", "tokens_per_s", "duration_s"):
            out.pop(key, None)  # type: ignore[misc]
        return out
    if "ttft_s" in out:
        out["ttft_s"] = round(out["ttft_s"] * time_scale, 4)
    if "duration_s" in out:
        out["duration_s"] = round(out["duration_s"] * time_scale, 4)
    if "tokens_per_s" in out:
        out["tokens_per_s"] = round(out["tokens_per_s"] / time_scale, 2)
    return out


class ToolTimer:
    """Times tool calls, so each shows a duration even when the stream reports none."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._started: dict[int, float] = {}

    def note(self, reply: Reply, event: ToolCallStarted | ToolCallFinished) -> None:
        """Call after ``reply.apply(event)``: a finished call gets its measured duration."""
        now = self._clock()
        if isinstance(event, ToolCallStarted):
            self._started[event.index] = now
            return
        call = reply.call(event.index)
        started = self._started.pop(event.index, None)
        if call is not None and call.duration_s is None and started is not None:
            call.duration_s = now - started

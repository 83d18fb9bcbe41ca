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
from nbchat.wire import MetricsInfo, ToolCallInfo

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
        self.output_tokens: int | None = None
        self.input_tokens: int | None = None

    def token(self) -> bool:
        """Count one text delta; True when it is the first of the reply."""
        now = self._clock()
        self.deltas += 1
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

    @property
    def tokens(self) -> int:
        return self.output_tokens if self.output_tokens is not None else self.deltas

    @property
    def tokens_per_s(self) -> float | None:
        """Generation speed after the first token: tokens over first-to-last-token time."""
        if self.first_token is None or self.last_token is None or self.tokens < 2:
            return None
        span = self.last_token - self.first_token
        return (self.tokens - 1) / span if span > 0 else None

    def info(self) -> MetricsInfo:
        """What was measured, as the widget and history store it (rounded)."""
        out: MetricsInfo = {}
        ttft = self.ttft_s
        if ttft is not None:
            out["ttft_s"] = round(ttft, 4)
        rate = self.tokens_per_s
        if rate is not None:
            out["tokens_per_s"] = round(rate, 2)
        end = self.ended if self.ended is not None else self._clock()
        out["duration_s"] = round(end - self.started, 4)
        if self.tokens:
            out["output_tokens"] = self.tokens
        if self.input_tokens is not None:
            out["input_tokens"] = self.input_tokens
        return out


class ToolTimer:
    """Start times of tool calls, so each shows a duration even if the stream has none."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._started: dict[int, float] = {}
        self._durations: dict[int, float] = {}

    def infos(
        self, reply: Reply, event: ToolCallStarted | ToolCallFinished | None
    ) -> list[ToolCallInfo]:
        now = self._clock()
        if isinstance(event, ToolCallStarted):
            self._started[event.index] = now
        elif isinstance(event, ToolCallFinished) and event.index in self._started:
            self._durations[event.index] = now - self._started[event.index]
        out: list[ToolCallInfo] = []
        for call in reply.tool_calls:
            info: ToolCallInfo = {
                "id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "input": call.input if call.finished else None,
                "status": "done" if call.finished else "running",
            }
            if call.result is not None:
                info["result"] = call.result
            duration = (
                call.duration_s if call.duration_s is not None else self._durations.get(call.index)
            )
            if duration is not None:
                info["duration_s"] = round(duration, 3)
            out.append(info)
        return out

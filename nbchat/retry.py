"""When to try a request again, and how long to wait first. Pure: no clock, no I/O.

Two different situations, two different rules:

* **Before any byte of the reply** arrived, re-sending costs nothing: 429 and 503
  honour the server's ``Retry-After`` (seconds, an HTTP date, or ``retry-after-ms``) up
  to :attr:`RetryPolicy.max_wait_s`; 408, 500, 502, 504 and connection failures are
  retried with capped exponential backoff (500 too, as the OpenAI and Anthropic SDKs
  do: the server answered before producing any of the reply, so nothing is bought
  twice); 400/401/403/404/413/422 never are (401 goes to the ``token_refresh`` hook
  instead, once).
* **After bytes** arrived, a request that starts work (a POST: an LLM reply, a job) is
  never re-sent: that would buy the reply again. A stream is re-opened with
  ``Last-Event-ID`` only where that cannot start work twice (a GET stream, a resume
  route, an endpoint declared resumable), waiting at least the server's ``retry:``
  time (default 1 s), with backoff and jitter above it, at most
  :attr:`RetryPolicy.max_reconnects` times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

#: statuses worth another try before any byte, without being asked to wait
TRANSIENT_STATUSES = frozenset({408, 500, 502, 504})
#: statuses whose server says how long to wait (Retry-After)
WAIT_STATUSES = frozenset({429, 503})

Decision = Literal["retry", "refresh", "fail"]


@dataclass(frozen=True)
class RetryPolicy:
    """How patient a chat is with failing servers.

    Parameters
    ----------
    max_retries : int
        Re-sends of a request that failed before any byte (429/503/408/502/504,
        refused or reset connections). ``0`` turns retrying off.
    max_reconnects : int
        Re-opens, with ``Last-Event-ID``, of a dropped stream that carries event ids.
    backoff_s : float
        First backoff wait; doubles each attempt.
    max_backoff_s : float
        Cap of one backoff wait.
    max_wait_s : float
        The longest ``Retry-After`` nbchat honours; a server asking for more fails the
        turn at once with RATE_LIMITED naming the wait.
    jitter : float
        Each wait is multiplied by a random factor in ``[1 - jitter, 1]`` so that many
        clients do not come back in lockstep.
    """

    max_retries: int = 3
    max_reconnects: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_wait_s: float = 60.0
    jitter: float = 0.25

    def backoff(
        self, attempt: int, base_s: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The wait before attempt ``attempt`` (1 = first retry): capped, doubling, jittered.

        ``base_s`` replaces :attr:`backoff_s` (a server's ``retry:`` time).
        """
        base = self.backoff_s if base_s is None else base_s
        # The cap bounds nbchat's own doubling, never a longer wait the server asked for.
        wait = min(max(self.max_backoff_s, base), base * 2.0 ** max(0, attempt - 1))
        draw: float = (rng or random).random()
        return wait * (1.0 - self.jitter * draw)

    def reconnect_wait(
        self, attempt: int, retry_s: float, rng: random.Random | None = None
    ) -> float:
        """The wait before reconnect ``attempt``: never less than the server's ``retry:``.

        The SSE ``retry:`` time is the server's minimum; backoff and jitter only add.
        """
        grown = min(max(self.max_backoff_s, retry_s), retry_s * 2.0 ** max(0, attempt - 1))
        draw: float = (rng or random).random()
        return grown * (1.0 + self.jitter * draw)

    def before_bytes(self, status: int | None, attempt: int, *, refreshed: bool) -> Decision:
        """What to do when attempt ``attempt`` failed before any byte.

        ``status`` is None for a connection failure (refused, reset, timed out).
        """
        if status == 401 and not refreshed:
            return "refresh"
        if attempt > self.max_retries:
            return "fail"
        if status is None or status in TRANSIENT_STATUSES or status in WAIT_STATUSES:
            return "retry"
        return "fail"


def parse_retry_after(headers: dict[str, str], now: float) -> float | None:
    """Seconds the server asks to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``headers`` has lower-case names. ``Retry-After`` is either delta-seconds or an HTTP
    date (RFC 9110 §10.2.3); ``now`` is the current Unix time for the latter. Returns
    None when absent or unreadable (then backoff applies); never negative.
    """
    raw_ms = headers.get("retry-after-ms", "").strip()
    if raw_ms:
        try:
            value = float(raw_ms)
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value / 1000.0
    raw = headers.get("retry-after", "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(int(raw))
    try:
        seconds = float(raw)  # not RFC, but servers send "1.5"
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


__all__ = ["RetryPolicy", "parse_retry_after"]

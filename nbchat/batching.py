"""Coalesce text deltas into numbered batches for the browser.

Jupyter Server silently drops widget messages above ~1,000 per second, so tokens
are never sent one by one: the widget adds deltas here and flushes every few tens of
milliseconds (and at once on a state change). Consecutive deltas of one message merge
into one op, so bytes on the wire grow with the text, not with the token count.
"""

from __future__ import annotations

from typing import Literal

from nbchat.wire import Batch, TextOp

TextKind = Literal["text", "reasoning"]

DEFAULT_INTERVAL_S = 0.03


class DeltaBatcher:
    """Pending deltas and the sequence counter of the batches already sent."""

    def __init__(self) -> None:
        self.seq = 0
        self._ids: list[tuple[str, TextKind]] = []
        self._parts: list[list[str]] = []

    @property
    def pending(self) -> bool:
        return bool(self._ids)

    def add(self, message_id: str, text: str, kind: TextKind = "text") -> bool:
        """Queue ``text`` for ``message_id``'s reply or reasoning; True when a batch starts."""
        if not text:
            return False
        first = not self._ids
        key = (message_id, kind)
        if self._ids and self._ids[-1] == key:
            self._parts[-1].append(text)
        else:
            self._ids.append(key)
            self._parts.append([text])
        return first

    def flush(self) -> Batch | None:
        """The next batch (seq + 1) with everything pending, or None when idle."""
        if not self._ids:
            return None
        ops: list[TextOp] = [
            {"op": kind, "id": mid, "text": "".join(parts)}
            for (mid, kind), parts in zip(self._ids, self._parts, strict=True)
        ]
        self.discard()
        self.seq += 1
        return {"type": "batch", "seq": self.seq, "ops": ops}

    def discard(self) -> None:
        """Drop pending deltas: a snapshot about to be sent already contains them."""
        self._ids.clear()
        self._parts.clear()

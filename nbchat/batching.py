"""Coalesce changes into numbered batches for the browser.

Jupyter Server silently drops widget messages above ~1,000 per second, so changes
are never sent one by one: the widget queues them here and flushes every few tens of
milliseconds (and at once for the first text of a reply or a state change). Ops stay
in order; consecutive text of one message merges into one op (bytes on the wire grow
with the text, not with the token count) and a message's pending patch is replaced by
its newer one.
"""

from __future__ import annotations

from typing import Any, Literal

from nbchat.wire import Batch, MessageInfo, Op

TextKind = Literal["text", "reasoning"]

DEFAULT_INTERVAL_S = 0.03


class DeltaBatcher:
    """Pending ops and the sequence counter of the batches already sent."""

    def __init__(self) -> None:
        self.seq = 0
        self._ops: list[Op] = []
        self._text: list[str] | None = None  # pieces of the last op, when it is text
        self._text_id = ""  # whose text, and which part, that op holds
        self._text_kind = ""
        self._patches: dict[str, int] = {}  # message id -> index of its pending patch

    @property
    def pending(self) -> bool:
        return bool(self._ops)

    def add(self, message_id: str, text: str, kind: TextKind = "text") -> bool:
        """Queue ``text`` for ``message_id``'s reply or reasoning; True when a batch starts."""
        if not text:
            return False
        pieces = self._text
        if pieces is not None and self._text_id == message_id and self._text_kind == kind:
            pieces.append(text)  # the hot path: one more token of the same reply
            return False
        first = not self._ops
        self._seal()
        self._ops.append({"op": kind, "id": message_id, "text": ""})
        self._text = [text]
        self._text_id, self._text_kind = message_id, kind
        return first

    def upsert(self, message: MessageInfo) -> bool:
        """Queue a message new to the transcript; True when a batch starts."""
        return self._push({"op": "upsert", "message": message})

    def patch(self, message_id: str, fields: dict[str, Any]) -> bool:
        """Queue the non-text fields of a message (replacing its pending patch, if any)."""
        index = self._patches.get(message_id)
        if index is not None:
            self._ops[index] = {"op": "patch", "id": message_id, "fields": fields}
            return False
        self._patches[message_id] = len(self._ops)
        return self._push({"op": "patch", "id": message_id, "fields": fields})

    def remove(self, message_id: str) -> bool:
        return self._push({"op": "remove", "id": message_id})

    def _push(self, op: Op) -> bool:
        first = not self._ops
        self._seal()
        self._ops.append(op)
        return first

    def _seal(self) -> None:
        # The last op is text whose pieces were kept apart: join them once.
        if self._text is not None:
            self._ops[-1]["text"] = "".join(self._text)  # type: ignore[typeddict-unknown-key]
            self._text = None

    def flush(self) -> Batch | None:
        """The next batch (seq + 1) with everything pending, or None when idle."""
        if not self._ops:
            return None
        self._seal()
        ops = self._ops
        self._ops = []
        self._patches.clear()
        self.seq += 1
        return {"type": "batch", "seq": self.seq, "ops": ops}

    def discard(self) -> None:
        """Drop pending ops: a snapshot about to be sent already contains them."""
        self._ops = []
        self._text = None
        self._patches.clear()

"""A chat widget that counts the bytes it would send to the browser, for benchmarks."""

from __future__ import annotations

import json
from typing import Any

from nbchat.widget import ChatWidget


class MeasuringWidget(ChatWidget):
    """Counts custom messages (batches, pages) and trait changes (snapshot, head)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.message_bytes = 0
        self.trait_bytes = 0
        super().__init__(*args, **kwargs)
        self.observe(self._count_trait, ["snapshot", "head"])

    @property
    def bytes(self) -> int:
        return self.message_bytes + self.trait_bytes

    def reset(self) -> None:
        self.message_bytes = self.trait_bytes = 0

    def _count_trait(self, change: dict[str, Any]) -> None:
        self.trait_bytes += len(json.dumps(change["new"]))

    def send(self, content: Any, buffers: Any = None) -> None:
        self.message_bytes += len(json.dumps(content))

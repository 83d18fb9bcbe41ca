"""Run as a process: ``python -m tests.history_writer PATH NAME TURNS``.

Opens the history file at PATH the way a kernel does (``Chat(history=PATH)``) and
chats TURNS times in conversation NAME on an in-process transport; prints ``ok``.
Used to hit one history file from many processes at once.
"""

from __future__ import annotations

import asyncio
import os
import sys

from nbchat import ChatController
from tests.memory_transport import MemoryTransport, openai_body


async def main(path: str, name: str, turns: int) -> None:
    transport = MemoryTransport(openai_body(f"reply from {os.getpid()}"))
    chat = ChatController(
        "http://model.test/v1", model="m", transport=transport, history=path, name=name
    )
    for turn in range(turns):
        message = await chat.send(f"{os.getpid()} turn {turn}")
        assert message.status == "done", message.error


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    print("ok")

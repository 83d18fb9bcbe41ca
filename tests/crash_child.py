"""Run as a process: ``python -m tests.crash_child HISTORY``; killed by the test.

Streams a long demo reply into HISTORY (the embedded server, paced by
``$NBCHAT_DEMO_TPS``) and prints ``<monotonic time> <characters shown>`` every 50 ms.
"""

from __future__ import annotations

import asyncio
import sys
import time

from nbchat import ChatController

PROMPT = "Explain pandas groupby with an example"


async def main(path: str) -> None:
    chat = ChatController(history=path, name="crash")
    turn = chat.send(PROMPT)
    while True:
        print(f"{time.monotonic():.3f} {len(turn.message.content)}", flush=True)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

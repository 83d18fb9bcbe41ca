"""Who says yes to a tool call that needs approval (a tool made with ``approve=True``).

In order: ``chat.approve`` when set (a function of the call and its tool, sync or
async, returning True to run it); else the chat's widget, once shown (its Approve and
Deny buttons answer through :meth:`Approvals.decide`); else nobody, and the call is
declined, never left waiting. An approval waits on the kernel's event loop like
Stop does, so the widget's answer arrives while the turn is paused.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from nbchat.toolbox import Tool

if TYPE_CHECKING:
    from nbchat.accumulate import ToolCall

__all__ = ["Approval", "Approvals"]

#: ``chat.approve``: given a call and its tool, True (or an awaitable of it) to run it
Approval = Callable[["ToolCall", Tool], "bool | Awaitable[bool]"]


class Approvals:
    """The approvals of one chat; see the module docstring.

    ``can_ask`` says whether a widget can show the question now.
    """

    def __init__(self, can_ask: Callable[[], bool]) -> None:
        self._can_ask = can_ask
        #: decides calls itself when set (see the module docstring)
        self.policy: Approval | None = None
        self._pending: dict[str, asyncio.Future[bool]] = {}

    async def ask(self, call: ToolCall, tool: Tool) -> bool:
        """Whether ``call`` may run (see the module docstring)."""
        policy = self.policy
        if policy is not None:
            answer = policy(call, tool)
            if inspect.isawaitable(answer):
                answer = await answer
            return bool(answer)
        if not self._can_ask():
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[call.id] = future
        try:
            return await future
        finally:
            self._pending.pop(call.id, None)

    def decide(self, call_id: str, approved: bool) -> bool:
        """Answer the call ``call_id`` waits for; False when none waits under that id."""
        future = self._pending.get(call_id)
        if future is None or future.done():
            return False
        future.set_result(bool(approved))
        return True

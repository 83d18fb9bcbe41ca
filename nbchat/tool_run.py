"""One round of a reply's tool calls, run in the kernel: approval, arguments, the call,
its result, one call after another in the order the model made them.

For each call the ledger's :class:`~nbchat.accumulate.ToolCall` is the one record:
``state`` moves ``queued`` → ``waiting`` (for approval) → ``running`` → ``done`` /
``error`` / ``denied`` / ``cancelled``, ``result`` becomes the text the model is sent (see
:mod:`nbchat.tool_result`), ``duration_s`` how long the function ran; ``changed()`` is
called after each step so the row in the widget follows.

Whatever happens the model gets an answer for every call: an unknown tool, arguments
that do not fit its schema, and an exception the tool raised become that call's result
(``error``); a declined call answers "declined". A plain function runs in a worker
thread, so the kernel's event loop (Stop, the widget, other cells) keeps running; Stop
cancels an ``async`` tool and abandons a plain one (it finishes in its thread, its
result unused), and the calls not run yet are marked ``cancelled``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nbchat.accumulate import ToolCall
from nbchat.metrics import Clock
from nbchat.tool_result import result_text
from nbchat.tool_schema import ToolArgumentError
from nbchat.toolbox import Tool, Toolbox

__all__ = ["ABANDONED", "DECLINED", "STOPPED", "Approver", "run_round"]

#: asks the user whether ``call`` of ``tool`` may run; True to run it
Approver = Callable[[ToolCall, Tool], Awaitable[bool]]

#: what the model is told of a declined call
DECLINED = "The user declined this call; do not retry it unless the user asks."
#: what the model is told of a call that Stop ended or kept from running
STOPPED = "Not completed: the user stopped the reply."
#: said of a plain function Stop abandoned
ABANDONED = "The function was left to finish in the background; its result is not used."


async def run_round(
    calls: Sequence[ToolCall],
    round_number: int,
    toolbox: Toolbox,
    approve: Approver,
    changed: Callable[[], None],
    clock: Clock = time.monotonic,
) -> None:
    """Answer every call of one round (see the module docstring).

    Raises
    ------
    asyncio.CancelledError
        Stop: the call running and those not run yet are marked ``cancelled``.
    """
    for call in calls:
        call.round, call.state = round_number, "queued"
    pending = list(calls)
    try:
        while pending:
            await _run_one(pending[0], toolbox, approve, changed, clock)
            pending.pop(0)
    except asyncio.CancelledError:
        for call in pending:
            if call.state not in _ENDED:
                _end(call, "cancelled", STOPPED)
        changed()
        raise
    except BaseException as exc:  # a bug: no call is left looking alive
        for call in pending:
            if call.state not in _ENDED:
                _end(call, "error", f"Not completed: nbchat failed ({type(exc).__name__}).")
        changed()
        raise


async def _run_one(
    call: ToolCall,
    toolbox: Toolbox,
    approve: Approver,
    changed: Callable[[], None],
    clock: Clock,
) -> None:
    tool = toolbox.get(call.name)
    if tool is None:
        names = ", ".join(t.name for t in toolbox) or "none"
        _end(call, "error", f"There is no tool named {call.name!r}; the tools are: {names}.")
        changed()
        return
    try:
        arguments = tool.spec.arguments(call.streamed)
    except ToolArgumentError as exc:
        _end(call, "error", f"{exc}. Call the tool again with arguments that fit its schema.")
        changed()
        return
    if tool.approve:
        call.state = "waiting"
        changed()
        try:
            approved = await approve(call, tool)
        except Exception as exc:  # a broken chat.approve: the call does not run
            _end(call, "error", f"Not run: the approval check raised {type(exc).__name__}: {exc}")
            changed()
            return
        if not approved:
            _end(call, "denied", DECLINED)
            changed()
            return
    call.state = "running"
    changed()
    started = clock()
    try:
        value = await _call(tool, arguments)
    except asyncio.CancelledError:
        call.duration_s = clock() - started
        # An async tool is cancelled with the turn; a thread cannot be: it finishes alone.
        _end(call, "cancelled", STOPPED if tool.is_async else f"{STOPPED} {ABANDONED}")
        raise
    except Exception as exc:  # the tool's own failure: the model is told, the turn goes on
        call.duration_s = clock() - started
        _end(call, "error", f"The tool raised {type(exc).__name__}: {exc}")
        changed()
        return
    call.duration_s = clock() - started
    _end(call, "done", result_text(value))
    changed()


async def _call(tool: Tool, arguments: dict[str, Any]) -> Any:
    if tool.is_async:
        return await tool.func(**arguments)
    # A plain function in a worker thread: the loop (Stop, the widget) keeps running.
    value = await asyncio.to_thread(tool.func, **arguments)
    if inspect.isawaitable(value):  # a plain function that returned a coroutine
        value = await value
    return value


#: how a call the kernel ran can end
_ENDED = frozenset({"done", "error", "denied", "cancelled"})


def _end(call: ToolCall, state: Any, result: str) -> None:
    call.state = state
    call.result = result

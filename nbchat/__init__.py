"""nbchat: stream LLM chat and live progress into a Jupyter notebook.

>>> import nbchat
>>> chat = nbchat.Chat()          # embedded offline demo model, no key needed
>>> chat                          # displays the chat widget
>>> await chat.send("Hello")      # or type in the widget
>>> job = nbchat.Progress()       # a long server job with a live progress bar
>>> for x in nbchat.progress(range(1000), name="loop"): ...   # a bar over a loop
"""

from __future__ import annotations

from nbchat import tools as tools  # the module: nbchat.tools.share(...)
from nbchat.accumulate import Reply, ToolCall
from nbchat.catalog import ConversationInfo, conversations, delete_conversation
from nbchat.chat import Chat
from nbchat.config import ContextLimit, Endpoint, Timeouts
from nbchat.controller import ChatController
from nbchat.dialects import Dialect, register_dialect
from nbchat.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    HistoryError,
    HTTPStatusError,
    InterruptedStream,
    NbchatError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    RequestTooLargeError,
    ServerError,
    StalledError,
    StreamFailure,
    ToolRoundsError,
    TurnInProgressError,
    ValidationError,
)
from nbchat.job_bar import Progress
from nbchat.loop_bar import LoopBar, progress
from nbchat.magic import load_ipython_extension
from nbchat.message import Message
from nbchat.parse import parse_stream
from nbchat.retry import RetryPolicy
from nbchat.stream import HttpTransport, ReplayTransport, Transport
from nbchat.toolbox import Tool, Toolbox
from nbchat.turn import Turn
from nbchat.wire import JobState, Phase

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Chat",
    "ChatController",
    "ConfigurationError",
    "ConnectionFailed",
    "ContextLimit",
    "ConversationInfo",
    "Dialect",
    "Endpoint",
    "HTTPStatusError",
    "HistoryError",
    "HttpTransport",
    "InterruptedStream",
    "JobState",
    "LoopBar",
    "Message",
    "NbchatError",
    "NotFoundError",
    "Phase",
    "Progress",
    "ProtocolError",
    "ProviderError",
    "RateLimitedError",
    "ReplayTransport",
    "Reply",
    "RequestTooLargeError",
    "RetryPolicy",
    "ServerError",
    "StalledError",
    "StreamFailure",
    "Timeouts",
    "Tool",
    "ToolCall",
    "ToolRoundsError",
    "Toolbox",
    "Transport",
    "Turn",
    "TurnInProgressError",
    "ValidationError",
    "__version__",
    "conversations",
    "delete_conversation",
    "load_ipython_extension",
    "parse_stream",
    "progress",
    "register_dialect",
]

"""The HTTP transport: httpx + httpx-sse open the request, nbchat decodes and checks it.

The only package that imports httpx or httpx_sse. ``transport`` sends requests and
checks responses; ``failures`` is where httpx's exceptions become nbchat's (one
table) and secrets are kept out of messages and logs; ``clients`` keeps one pooled
client per event loop.
"""

from __future__ import annotations

from nbchat.stream.http.clients import POOL, ClientPool
from nbchat.stream.http.failures import FAILURES, failure
from nbchat.stream.http.transport import HttpStream, HttpTransport, http_timeout, make_client

__all__ = [
    "FAILURES",
    "POOL",
    "ClientPool",
    "HttpStream",
    "HttpTransport",
    "failure",
    "http_timeout",
    "make_client",
]

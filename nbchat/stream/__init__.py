"""Bytes in, server-sent events (or lines) out: transports and decoders.

Laid out like httpx's ``_transports/``: one protocol, several transports, and the
decoders beside them.

=====================  ===================================================  =====
module                 what                                                 layer
=====================  ===================================================  =====
``base``               :class:`HttpRequest`, :class:`Transport` (protocol),  L1
                       :class:`DecodedStream`, :func:`decoder_for`
``sse``                WHATWG server-sent events decoder                    L1
``lines``              line decoder (AI SDK 4 data stream)                  L1
``error_body``         the reason in an error response body                 L1
``http``               :class:`HttpTransport`: the only httpx importer      L2
``replay``             :class:`ReplayTransport`: plays recordings           L2
``recording``          :class:`RecordingTransport`: records any transport   L2
=====================  ===================================================  =====

A chat is handed one transport (``Chat(transport=...)``; HTTP by default,
``Chat(replay=path)`` and ``chat.record(path)`` build the other two); everything above
this folder sees only :class:`Transport` and :class:`DecodedStream`.
"""

from __future__ import annotations

from nbchat.stream.base import DecodedStream, Framing, HttpRequest, Transport, decoder_for
from nbchat.stream.http import HttpTransport
from nbchat.stream.recording import Recorder, Recording, RecordingTransport
from nbchat.stream.replay import RecordedTurn, ReplayTransport, load_recording
from nbchat.stream.sse import ServerSentEvent, decode

__all__ = [
    "DecodedStream",
    "Framing",
    "HttpRequest",
    "HttpTransport",
    "RecordedTurn",
    "Recorder",
    "Recording",
    "RecordingTransport",
    "ReplayTransport",
    "ServerSentEvent",
    "Transport",
    "decode",
    "decoder_for",
    "load_recording",
]

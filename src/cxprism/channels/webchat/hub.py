"""Visitors' open chat sockets in this process, so agent replies reach them live.

A visitor may have several tabs open: each registers a sender; a reply goes to all of
them. ``push`` reports whether anyone received it, so the sender can fall back (to email)
when the visitor has left. One process sees only its own sockets; see the README on
scaling out web chat.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("cxprism.webchat")

Sender = Callable[[dict[str, Any]], Awaitable[None]]


class ChatHub:
    def __init__(self) -> None:
        self._senders: dict[str, set[Sender]] = defaultdict(set)

    def connect(self, visitor_id: str, sender: Sender) -> None:
        self._senders[visitor_id].add(sender)

    def disconnect(self, visitor_id: str, sender: Sender) -> None:
        senders = self._senders.get(visitor_id)
        if senders is not None:
            senders.discard(sender)
            if not senders:
                del self._senders[visitor_id]

    def is_online(self, visitor_id: str) -> bool:
        return bool(self._senders.get(visitor_id))

    async def push(self, visitor_id: str, payload: dict[str, Any]) -> bool:
        delivered = False
        for sender in list(self._senders.get(visitor_id, ())):
            try:
                await sender(payload)
                delivered = True
            except Exception:  # a socket that died mid-send; its handler cleans up
                log.info("a chat socket of visitor %s did not take a message", visitor_id)
        return delivered


hub = ChatHub()

"""Connectors by kind: the built-in ones, and third parties' through entry points.

A third-party package exposes its connector class in the ``cxprism.connectors``
entry-point group (``[project.entry-points."cxprism.connectors"] acme = "acme_cx:AcmeConnector"``);
it is loaded once, checked against the :class:`~cxprism.channels.protocol.Connector`
protocol, and refused (with a log line, never a crash) if it does not speak it or
reuses a built-in kind.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from cxprism.channels.protocol import Connector, WebhookConnector

log = logging.getLogger("cxprism.channels")
ENTRY_POINT_GROUP = "cxprism.connectors"


class UnknownChannelKind(LookupError):
    pass


class ConnectorRegistry:
    def __init__(self) -> None:
        self._connectors: dict[str, Connector] = {}
        self._webhooks: dict[str, tuple[Connector, WebhookConnector | None]] = {}
        self._discovered = False

    def register(self, connector: Connector) -> Connector:
        if not isinstance(connector, Connector):
            raise TypeError(f"{connector!r} does not implement the Connector protocol")
        if connector.kind in self._connectors:
            raise ValueError(f"channel kind {connector.kind!r} is registered twice")
        self._connectors[connector.kind] = connector
        return connector

    def get(self, kind: str) -> Connector:
        self._discover()
        try:
            return self._connectors[kind]
        except KeyError:
            raise UnknownChannelKind(
                f"unknown channel kind {kind!r}; known: {', '.join(self.kinds())}") from None

    def webhook(self, kind: str) -> WebhookConnector | None:
        # Asked on every provider webhook; a runtime protocol check costs tens of µs. The
        # answer is kept for the connector registered now (tests swap connectors).
        connector = self.get(kind)
        known = self._webhooks.get(kind)
        if known is None or known[0] is not connector:
            known = (connector, connector if isinstance(connector, WebhookConnector) else None)
            self._webhooks[kind] = known
        return known[1]

    def kinds(self) -> list[str]:
        self._discover()
        return sorted(self._connectors)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
                self.register(loaded() if isinstance(loaded, type) else loaded)
            except Exception:  # a broken plug-in must not take the platform down
                log.exception("connector entry point %r was not loaded", entry.name)


registry = ConnectorRegistry()

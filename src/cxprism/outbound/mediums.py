"""Mediums: what consent, caps, budgets and templates are kept per (email, sms, ...),
as opposed to the connector kinds that carry them (twilio_sms, whatsapp_cloud, ...)."""

from __future__ import annotations

from cxprism.channels.registry import UnknownChannelKind, registry
from cxprism.customers.schemas import Channel

MEDIUMS = frozenset(c.value for c in Channel)
_MEDIUM_OF_KIND = {
    "email": "email", "twilio_sms": "sms", "twilio_whatsapp": "whatsapp",
    "whatsapp_cloud": "whatsapp", "webchat": "webchat", "social": "social",
    "twilio_voice": "voice", "voice": "voice",
}


def medium_of(kind: str, declared: str | None = None) -> str:
    """A connector's medium: built-ins are known; a third-party connector may declare
    ``medium``; otherwise its kind stands for itself."""
    return _MEDIUM_OF_KIND.get(kind) or declared or kind


def medium_of_kind(kind: str) -> str:
    """The medium of a connector kind, asking the registered connector when need be."""
    try:
        declared = getattr(registry.get(kind), "medium", None)
    except UnknownChannelKind:
        declared = None
    return medium_of(kind, declared)

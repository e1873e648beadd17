"""Mediums: what consent, caps, budgets and templates are kept per (email, sms, ...),
as opposed to the connector kinds that carry them (twilio_sms, whatsapp_cloud, ...)."""

from __future__ import annotations

from cxprism.channels.registry import UnknownChannelKind, registry

_MEDIUM_OF_KIND = {
    "email": "email", "twilio_sms": "sms", "twilio_whatsapp": "whatsapp",
    "whatsapp_cloud": "whatsapp", "webchat": "webchat", "social": "social",
    "twilio_voice": "voice", "voice": "voice",
}


def medium_of(kind: str) -> str:
    """A connector kind's medium: built-ins are known; a third-party connector may
    declare ``medium``; otherwise its kind stands for itself."""
    if kind in _MEDIUM_OF_KIND:
        return _MEDIUM_OF_KIND[kind]
    try:
        declared = getattr(registry.get(kind), "medium", None)
    except UnknownChannelKind:
        declared = None
    return str(declared) if declared else kind

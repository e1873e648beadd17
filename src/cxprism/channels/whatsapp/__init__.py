"""WhatsApp: the Cloud API connector, and the 24-hour window rule every WhatsApp sender
follows (Twilio's WhatsApp connector too)."""

from __future__ import annotations

from cxprism.channels.whatsapp.config import WhatsAppCloudConfig
from cxprism.channels.whatsapp.connector import WhatsAppCloudConnector
from cxprism.channels.whatsapp.window import (
    WindowClosed,
    check_whatsapp_send,
    whatsapp_window_open,
)

__all__ = ["WhatsAppCloudConfig", "WhatsAppCloudConnector", "WindowClosed",
           "check_whatsapp_send", "whatsapp_window_open"]

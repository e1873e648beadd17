"""Twilio: SMS, WhatsApp and voice call records, through one Twilio account."""

from __future__ import annotations

from cxprism.channels.twilio.config import (
    TwilioConfig,
    TwilioSmsConfig,
    TwilioVoiceConfig,
    TwilioWhatsAppConfig,
)
from cxprism.channels.twilio.connector import TwilioSmsConnector, TwilioWhatsAppConnector
from cxprism.channels.twilio.signature import twilio_signature, verify_twilio
from cxprism.channels.twilio.voice import TwilioVoiceConnector

__all__ = ["TwilioConfig", "TwilioSmsConfig", "TwilioSmsConnector", "TwilioVoiceConfig",
           "TwilioVoiceConnector", "TwilioWhatsAppConfig", "TwilioWhatsAppConnector",
           "twilio_signature", "verify_twilio"]

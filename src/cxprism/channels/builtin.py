"""The connectors that ship with cxprism, registered on import."""

from __future__ import annotations

from cxprism.channels.email.connector import EmailConnector
from cxprism.channels.registry import registry
from cxprism.channels.social.connector import SocialConnector
from cxprism.channels.twilio.connector import TwilioSmsConnector, TwilioWhatsAppConnector
from cxprism.channels.twilio.voice import TwilioVoiceConnector
from cxprism.channels.voice.connector import VoiceConnector
from cxprism.channels.webchat.connector import WebchatConnector
from cxprism.channels.whatsapp.connector import WhatsAppCloudConnector

BUILTIN = (EmailConnector(), TwilioSmsConnector(), TwilioWhatsAppConnector(),
           TwilioVoiceConnector(), WhatsAppCloudConnector(), SocialConnector(), VoiceConnector(),
           WebchatConnector())

for _connector in BUILTIN:
    registry.register(_connector)

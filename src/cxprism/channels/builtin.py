"""The connectors that ship with cxprism, registered on import."""

from __future__ import annotations

from cxprism.channels.email.connector import EmailConnector
from cxprism.channels.registry import registry
from cxprism.channels.social.connector import SocialConnector
from cxprism.channels.voice.connector import VoiceConnector
from cxprism.channels.webchat.connector import WebchatConnector

BUILTIN = (EmailConnector(), SocialConnector(), VoiceConnector(),
           WebchatConnector())

for _connector in BUILTIN:
    registry.register(_connector)

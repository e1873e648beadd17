"""Voice calls and their transcripts, from any contact-centre system that signs webhooks."""

from __future__ import annotations

from cxprism.channels.voice.calls import call_summary, format_duration, render_transcript
from cxprism.channels.voice.connector import VoiceConfig, VoiceConnector

__all__ = ["VoiceConfig", "VoiceConnector", "call_summary", "format_duration",
           "render_transcript"]

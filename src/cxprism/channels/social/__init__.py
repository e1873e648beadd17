"""Social networks and review sites, through the company's signed social bridge."""

from __future__ import annotations

from cxprism.channels.social.config import SocialConfig
from cxprism.channels.social.connector import SocialConnector
from cxprism.channels.social.importer import ImportRefused, ImportResult, parse_import

__all__ = ["ImportRefused", "ImportResult", "SocialConfig", "SocialConnector", "parse_import"]

"""Signed WhatsApp Cloud webhook requests, shaped as the hooks route builds them."""

from __future__ import annotations

from typing import Any

from cxprism.channels.protocol import WebhookRequest
from cxprism.channels.whatsapp import WhatsAppCloudConfig
from tests.fixtures.fake_meta import FakeMeta

HOOK_URL = "https://cx.example.com/hooks/whatsapp_cloud/5e0c7f1a-8a4b-4c0e-9a51-1f2e3d4c5b6a"
WA_ID = "16505551234"
BUILDER = FakeMeta()  # only its builders and signing: nothing is served


def cloud_config(**overrides: Any) -> WhatsAppCloudConfig:
    return WhatsAppCloudConfig.model_validate(
        BUILDER.config(**{"graph_base": "https://graph.facebook.com", **overrides}))


def post(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="POST", url=HOOK_URL, headers=headers, body=body)


def signed_post(payload: dict[str, Any]) -> WebhookRequest:
    return post(*BUILDER.signed_webhook(payload))

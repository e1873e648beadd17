"""A social channel's configuration: one account on one network, and its bridge."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

from cxprism.channels.destinations import PublicUrl
from cxprism.channels.social.items import Network
from cxprism.channels.social.payloads import check_web_url
from cxprism.channels.social.signing import WebhookSecret
from cxprism.kit.validation import check_text

_NO_SPACE = re.compile(r"\S+")


def check_account(value: str) -> str:
    if not _NO_SPACE.fullmatch(value):
        raise ValueError("must be the account's handle or page id, without spaces")
    return value


def check_reply_url(value: str) -> str:
    check_web_url(value)
    parts = urlsplit(value)
    # Replies carry customer conversations: never in clear text, and credentials belong
    # in reply_secret, not in a URL that ends up in logs.
    if parts.scheme.lower() != "https":
        raise ValueError("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    return value


Account = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(check_text), AfterValidator(check_account)]
# Every reply is POSTed here, so it is held to the SSRF rules before anything else.
ReplyUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048),
    PublicUrl, AfterValidator(check_reply_url)]


class SocialConfig(BaseModel):
    """``account`` is the company's handle or page id on ``network``.

    Posts arrive signed with ``inbound_secret``; replies are POSTed to ``reply_url`` (the
    company's publishing tool or bridge) signed with ``reply_secret``. Without a reply URL
    the channel only listens.
    """

    model_config = ConfigDict(extra="forbid")

    network: Network
    account: Account
    inbound_secret: WebhookSecret
    reply_url: ReplyUrl | None = None
    reply_secret: WebhookSecret | None = None

    @model_validator(mode="after")
    def _reply_url_needs_secret(self) -> SocialConfig:
        if self.reply_url is not None and self.reply_secret is None:
            raise ValueError("reply_secret is required when reply_url is set")
        return self

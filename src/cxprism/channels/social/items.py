"""One social item (post, comment, mention, review, direct message) and its inbound message.

The item format, sent by the company's social bridge or listening tool and read from
imports::

    {"type": "post" | "comment" | "mention" | "review" | "direct_message",
     "id": "<the network's id of the item>",
     "network": "twitter",                       # optional: defaults to the channel's
     "author": {"handle": "@Jane", "name": "Jane Doe", "id": "<network user id>"},
     "text": "plain text, at most 20,000 characters",
     "url": "https://...",                       # http(s) only
     "public": true,                             # default: false for direct messages
     "created_at": "2024-05-01T09:30:00Z",       # naive times are taken as UTC
     "in_reply_to": "<parent item id>" | null,
     "thread_id": "<root post id>" | null,
     "rating": 1-5 | null,                       # reviews only
     "language": "en" | null,
     "attachments": [{"url": "https://...", "content_type": "image/jpeg"}]}

Unknown fields are ignored; the size of what carries them is bounded by the webhook body
and import line limits. Handles are stored lower-cased without a leading ``@`` (at most
255 characters), so ``@Jane`` and ``jane`` are one identity. Ids are namespaced by network
(``twitter:123``) because two networks may reuse one id.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from cxprism.channels.protocol import Address, Attachment, InboundMessage, ItemKind
from cxprism.channels.social.payloads import (
    Identifier,
    Language,
    UtcDatetime,
    WebUrl,
    reason_of,
)
from cxprism.kit.validation import check_text

NETWORK_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")
MAX_TEXT_CHARS = 20_000
MAX_HANDLE_CHARS = 255
MAX_ATTACHMENTS = 20
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")

ItemType = Literal["post", "comment", "mention", "review", "direct_message"]
KIND_OF: dict[str, ItemKind] = {
    "post": ItemKind.POST,
    "comment": ItemKind.COMMENT,
    "mention": ItemKind.MENTION,
    "review": ItemKind.REVIEW,
    "direct_message": ItemKind.MESSAGE,
}


class ItemRejected(ValueError):
    """One item cannot be taken; the message is the reason reported back for it."""


def check_network(value: str) -> str:
    if not NETWORK_PATTERN.fullmatch(value):
        raise ValueError("must be a lower-case network name such as twitter or google_reviews")
    return value


def normalise_handle(value: str) -> str:
    handle = value.strip().lstrip("@").strip().lower()
    if not handle:
        raise ValueError("must not be empty")
    if len(handle) > MAX_HANDLE_CHARS:
        raise ValueError(f"must be at most {MAX_HANDLE_CHARS} characters")
    return handle


def check_content_type(value: str) -> str:
    if not _CONTENT_TYPE.fullmatch(value):
        raise ValueError("must be a media type such as image/jpeg")
    return value


Network = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=40),
    AfterValidator(check_network)]
Handle = Annotated[
    str, StringConstraints(max_length=1024), AfterValidator(check_text),
    AfterValidator(normalise_handle)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=255), AfterValidator(check_text)]
PostText = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS), AfterValidator(check_text)]
ContentType = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=255),
    AfterValidator(check_content_type)]


class _Lenient(BaseModel):
    # Bridges add fields of their own; numeric ids (Twitter's) arrive as JSON numbers.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class Author(_Lenient):
    handle: Handle
    name: Name | None = None
    id: Identifier | None = None


class MediaLink(_Lenient):
    url: WebUrl
    content_type: ContentType = "application/octet-stream"


class SocialItem(_Lenient):
    type: ItemType
    id: Identifier
    network: Network | None = None
    author: Author
    text: PostText = ""
    url: WebUrl | None = None
    public: bool | None = None
    created_at: UtcDatetime | None = None
    in_reply_to: Identifier | None = None
    thread_id: Identifier | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    language: Language | None = None
    attachments: list[MediaLink] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)

    @model_validator(mode="after")
    def _rating_only_on_reviews(self) -> SocialItem:
        if self.rating is not None and self.type != "review":
            raise ValueError("rating is only allowed on reviews")
        return self


def parse_item(raw: object, *, default_network: str | None,
               expected_network: str | None = None) -> InboundMessage:
    """Validate one raw item and map it; :class:`ItemRejected` says why it is refused.

    ``default_network`` applies to items that do not name theirs; ``expected_network``
    (a channel's) refuses items of any other network.
    """
    if not isinstance(raw, dict):
        raise ItemRejected("an item must be a JSON object")
    try:
        item = SocialItem.model_validate(raw)
    except ValidationError as exc:
        raise ItemRejected(reason_of(exc)) from None
    network = item.network or default_network
    if network is None:
        raise ItemRejected("network is missing and there is no default network")
    if expected_network is not None and network != expected_network:
        raise ItemRejected(
            f"network {network!r} does not match this channel's network {expected_network!r}")
    return to_inbound(item, network)


def to_inbound(item: SocialItem, network: str) -> InboundMessage:
    public = item.public if item.public is not None else item.type != "direct_message"
    return InboundMessage(
        kind=KIND_OF[item.type],
        external_id=f"{network}:{item.id}",
        sender=[Address(kind="social", namespace=network, value=item.author.handle)],
        sender_name=item.author.name,
        text=item.text,
        thread_refs=[f"{network}:{item.in_reply_to}"] if item.in_reply_to else [],
        thread_key=f"{network}:{item.thread_id or item.id}",
        sent_at=item.created_at,
        attachments=[_attachment(link) for link in item.attachments],
        metadata={
            "network": network,
            "url": item.url,
            "public": public,
            "rating": item.rating,
            "author_id": item.author.id,
            "language": item.language,
        },
    )


def _attachment(link: MediaLink) -> Attachment:
    # Only the link is kept: media is fetched later, if at all, through the SSRF guard.
    name = PurePosixPath(urlsplit(link.url).path).name[:255] or "attachment"
    return Attachment(filename=name, content_type=link.content_type, url=link.url)


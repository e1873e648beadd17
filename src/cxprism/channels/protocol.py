"""What every channel connector speaks: plain data in, plain data out.

A connector turns a provider's wire format into :class:`InboundMessage` and
:class:`StatusUpdate` values, and an :class:`OutboundMessage` into the provider's API call.
It never touches the database: the conversations service stores what a connector parsed,
resolves the customer and threads the message. That keeps every connector testable
against recorded payloads and a fake provider, and lets third parties ship connectors as
separate packages (entry-point group ``cxprism.connectors``, see ``registry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel

from cxprism.kit.safe_http import UnsafeDestination


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound messages
    QUEUED = "queued"
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNKNOWN = "unknown"  # a send whose outcome was lost; for review, never resent blindly


class ItemKind(StrEnum):
    MESSAGE = "message"
    NOTE = "note"  # internal, never sent
    CALL = "call"
    POST = "post"
    COMMENT = "comment"
    MENTION = "mention"
    REVIEW = "review"


@dataclass(frozen=True)
class Address:
    """Who sent an inbound item, as identities the customers service can resolve.

    ``kind`` is a customers ``IdentityKind`` value (email, phone, social,
    webchat_visitor_id, anonymous_id); ``namespace`` is the network for social handles.
    """

    kind: str
    value: str
    namespace: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = b""  # inbound: the bytes, stored through kit.storage by the service
    url: str | None = None  # a provider-hosted media reference (fetched later, if at all)


@dataclass
class InboundMessage:
    """One item a customer sent (or a public post about the company) on a channel.

    ``external_id`` is the provider's id for the item and the deduplication key within the
    channel: the same id arriving twice stores one message. ``thread_refs`` are earlier
    items' external ids this one answers (email ``In-Reply-To``/``References``, a comment's
    parent post); ``thread_key`` groups items of one provider thread when there is no reply
    chain (a phone number pair, a chat session, a social post).
    """

    external_id: str
    sender: list[Address]
    text: str = ""
    html: str | None = None  # untrusted: the service sanitises before storing
    subject: str | None = None
    sender_name: str | None = None
    kind: ItemKind = ItemKind.MESSAGE
    thread_refs: list[str] = field(default_factory=list)
    thread_key: str | None = None
    reply_token: str | None = None  # from a plus-address (support+<token>@...)
    attachments: list[Attachment] = field(default_factory=list)
    sent_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # network, url, public, call...
    auto_reply: bool = False  # an out-of-office or other automatic answer


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's news about a message we sent: delivered, read, failed, bounced."""

    external_id: str
    status: DeliveryStatus
    reason: str | None = None
    at: datetime | None = None


@dataclass
class OutboundMessage:
    """A message to send. ``to`` is the recipient's address on this channel."""

    to: str
    text: str
    html: str | None = None
    subject: str | None = None
    in_reply_to: str | None = None  # the external id of the message this answers
    references: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    template: TemplateRef | None = None
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateRef:
    """A provider-approved template (WhatsApp): its name, language and parameters."""

    name: str
    language: str
    parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SendResult:
    external_id: str
    status: DeliveryStatus = DeliveryStatus.SENT
    details: dict[str, Any] = field(default_factory=dict)


# SendError.code when the provider may have taken the message but its answer was lost (a
# read timeout, a dropped connection after the request went out): resending could deliver
# twice, so the message is marked ``unknown`` for review instead of being retried.
ANSWER_LOST = "answer_lost"
# SendError.code when the SSRF guard refused the destination: nothing was sent, and trying
# again cannot help until the channel's configuration is changed.
UNSAFE_DESTINATION = "unsafe_destination"


class SendError(Exception):
    """A send failed. ``transient``: trying again later may work (timeouts, 429, 5xx)."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.code = code


def refused_destination(callee: str, exc: UnsafeDestination) -> SendError:
    """The permanent :class:`SendError` for a destination the SSRF guard refused.

    The guard refuses before any connection is opened, so this is never an
    :data:`ANSWER_LOST`: the callee cannot have the message.
    """
    return SendError(f"{callee} was not called: {exc.reason}; outgoing calls never reach "
                     "private, loopback or link-local addresses", transient=False,
                     code=UNSAFE_DESTINATION)


class SignatureInvalid(Exception):
    """The request is not signed by the provider with this channel's secret (403)."""


class PayloadInvalid(Exception):
    """The request is signed but cannot be understood; the message says why (400)."""


@dataclass(frozen=True)
class WebhookRequest:
    """An inbound provider request, as the connector needs it to verify and parse.

    ``url`` is the public URL the provider called (scheme, host, path and query), built
    from the configured base URL, because signatures (Twilio's) cover it.
    """

    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)  # x-www-form-urlencoded


@dataclass
class WebhookResult:
    """What a webhook carried, and what to answer the provider."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    status_code: int = 200
    content_type: str = "text/plain"
    body: bytes = b""


@runtime_checkable
class Connector(Protocol):
    """A channel kind. One instance serves every channel of that kind in every workspace.

    ``config_model`` validates a channel's configuration; ``secret_fields`` names the
    fields stored encrypted and never returned by the API. ``address_of`` says which
    inbound address a configuration owns (an inbox address, a phone number, a page id),
    unique per kind across workspaces, so inbound items find their channel.
    """

    kind: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    secret_fields: ClassVar[frozenset[str]]

    def address_of(self, config: BaseModel) -> str: ...

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        """The customer's address on this channel among their identities, if any."""
        ...

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult: ...


@runtime_checkable
class WebhookConnector(Connector, Protocol):
    """A connector whose provider calls us over HTTP (``/hooks/{kind}/{channel_id}``)."""

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        """Verify (raise :class:`SignatureInvalid`) and parse (:class:`PayloadInvalid`)."""
        ...


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def config_as(config: BaseModel, model: type[ConfigT]) -> ConfigT:
    """A connector's own configuration type, from the protocol's ``BaseModel``."""
    if not isinstance(config, model):
        raise TypeError(f"expected a {model.__name__}, got {type(config).__name__}")
    return config


def first_address(addresses: list[Address], kind: str, namespace: str | None = None) -> str | None:
    """The first non-empty address of ``kind`` (and ``namespace``, if given), for
    :meth:`Connector.recipient_of`."""
    return next((a.value for a in addresses if a.kind == kind and a.value
                 and (namespace is None or a.namespace == namespace)), None)

"""The WhatsApp Cloud API webhook notification, as Meta documents it (the parts we read).

::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1234"},
         "contacts": [{"profile": {"name": "Ana"}, "wa_id": "16505551234"}],
         "messages": [{"from": "16505551234", "id": "wamid...", "timestamp": "1700000000",
                       "type": "text", "text": {"body": "Hi"}, "context": {...}}],
         "statuses": [{"id": "wamid...", "status": "delivered", "timestamp": "...",
                       "recipient_id": "...", "errors": [{"code": 131047, "title": "..."}]}]
     }}]}]}

Unknown fields are ignored, since Meta adds them without notice; a ``value`` is only read
when its ``field`` is ``messages``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Short = Annotated[str, StringConstraints(max_length=1024)]
# Message and media ids end up as deduplication keys and references: printable ASCII only.
Ident = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,512}$")]
Long = Annotated[str, StringConstraints(max_length=65_536)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Text(_Model):
    body: Long = ""


class Media(_Model):
    """An image, audio, video, document or sticker: a media id to download later."""

    id: Ident
    mime_type: Short = "application/octet-stream"
    caption: Long | None = None
    filename: Short | None = None
    sha256: Short | None = None


class Reply(_Model):
    id: Short = ""
    title: Short = ""
    description: Short | None = None


class Interactive(_Model):
    type: Short = ""
    button_reply: Reply | None = None
    list_reply: Reply | None = None


class Button(_Model):
    text: Short = ""
    payload: Short | None = None


class Location(_Model):
    latitude: float = Field(allow_inf_nan=False, ge=-90, le=90)
    longitude: float = Field(allow_inf_nan=False, ge=-180, le=180)
    name: Short | None = None
    address: Short | None = None
    url: Short | None = None


class Reaction(_Model):
    message_id: Ident
    emoji: Short | None = None  # absent when the customer removes a reaction


class Context(_Model):
    id: Ident | None = None
    from_: Short | None = Field(default=None, alias="from")
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class Error(_Model):
    code: int | None = None
    title: Short | None = None
    message: Short | None = None
    error_data: dict[str, Any] | None = None


class Message(_Model):
    from_: Short = Field(alias="from")
    id: Ident
    timestamp: Short | None = None
    type: Short = "unknown"
    text: Text | None = None
    image: Media | None = None
    audio: Media | None = None
    video: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    location: Location | None = None
    reaction: Reaction | None = None
    context: Context | None = None
    errors: list[Error] = Field(default_factory=list, max_length=20)


class Status(_Model):
    id: Ident
    status: Short
    timestamp: Short | None = None
    recipient_id: Short | None = None
    errors: list[Error] = Field(default_factory=list, max_length=20)


class Profile(_Model):
    name: Short | None = None


class Contact(_Model):
    wa_id: Short = ""
    profile: Profile | None = None


class Metadata(_Model):
    phone_number_id: Short = ""
    display_phone_number: Short | None = None


class Value(_Model):
    """The ``value`` of a ``messages`` change. Messages and statuses stay raw dicts here,
    so one malformed item can be skipped without losing the others."""

    messaging_product: Short | None = None
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list, max_length=1000)
    messages: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    statuses: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)


class Change(_Model):
    field: Short
    value: dict[str, Any] = Field(default_factory=dict)


class Entry(_Model):
    id: Short | None = None
    changes: list[Change] = Field(default_factory=list, max_length=1000)


class Notification(_Model):
    object: Short
    entry: list[Entry] = Field(max_length=1000)

"""The domain-event catalogue: every event type cxprism records, what it means, and the
JSON schema of its payload (the ``data`` of a webhook body).

It is what subscriptions are checked against: a pattern that matches no type here is a
typo, refused with 422. ``tests/webhooks/test_catalogue.py`` scans the source for event
types passed to ``events.record(...)`` and the domains' ``_event``/``event`` helpers and
fails when one is missing here, so the catalogue stays true as domains add events.

Patterns: ``*`` (every type), ``prefix.*`` (every type starting with ``prefix.``), or an
exact type. No other use of ``*`` is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

UUID: Schema = {"type": "string", "format": "uuid"}
OPTIONAL_UUID: Schema = {"type": ["string", "null"], "format": "uuid"}
TEXT: Schema = {"type": "string"}
OPTIONAL_TEXT: Schema = {"type": ["string", "null"]}
COUNT: Schema = {"type": "integer", "minimum": 0}
OPTIONAL_COUNT: Schema = {"type": ["integer", "null"], "minimum": 0}
TEXTS: Schema = {"type": "array", "items": TEXT}
ACTOR: Schema = {**OPTIONAL_UUID,
                 "description": "the user who made the change; null for API keys and system"}


def _payload(**properties: Schema) -> Schema:
    """An object schema with exactly these properties, all of them always present."""
    return {"type": "object", "properties": properties, "required": sorted(properties),
            "additionalProperties": False}


@dataclass(frozen=True)
class EventType:
    type: str
    description: str
    schema: Schema


def _conversation(**extra: Schema) -> Schema:
    return _payload(conversation_id=UUID, customer_id=UUID, status=TEXT, actor_id=ACTOR,
                    **extra)


def _message(**extra: Schema) -> Schema:
    return _payload(message_id=UUID, conversation_id=UUID, customer_id=UUID, channel_id=UUID,
                    kind={"type": "string", "enum": ["message", "note"]},
                    direction={"type": "string", "enum": ["inbound", "outbound"]},
                    status=TEXT, **extra)


def _outbound() -> Schema:
    return _payload(send_id=UUID, customer_id=UUID,
                    channel_kind={**OPTIONAL_TEXT, "description": "the medium (email, sms, "
                                  "whatsapp, ...); null when no channel could be used"},
                    purpose=TEXT,
                    status=TEXT, reason=OPTIONAL_TEXT,
                    previous={**OPTIONAL_TEXT, "description": "the send's status before"})


def _outbound_control(**extra: Schema) -> Schema:
    return _payload(actor={**OPTIONAL_TEXT, "description": "who made the change"}, **extra)


_TYPES = [
    EventType("workspace.created", "A workspace was created.", _payload(slug=TEXT)),
    EventType("user.created", "A user was added to the workspace.",
              _payload(user_id=UUID, role=TEXT, actor_id=ACTOR)),
    EventType("user.role_changed", "A user's role changed.",
              _payload(user_id=UUID, **{"from": TEXT, "to": TEXT}, actor_id=ACTOR)),
    EventType("api_key.created", "An API key was issued (its secret is never in events).",
              _payload(api_key_id=UUID, role=TEXT, actor_id=ACTOR)),
    EventType("api_key.revoked", "An API key was revoked.",
              _payload(api_key_id=UUID, actor_id=ACTOR)),
    EventType("customer.created", "A customer profile was created.",
              _payload(customer_id=UUID, actor_id=ACTOR)),
    EventType("customer.updated", "A customer's traits, timezone or locale changed; "
              "``fields`` names them (values are not in events).",
              _payload(customer_id=UUID, fields=TEXTS, actor_id=ACTOR)),
    EventType("customer.merged", "Two profiles were found to be one person; the loser's "
              "identities, history and conversations now belong to the winner.",
              _payload(winner_id=UUID, loser_id=UUID, actor_id=ACTOR)),
    EventType("customer.exported", "A data-subject export of a customer was made.",
              _payload(customer_id=UUID, request_id=UUID, actor_id=ACTOR)),
    EventType("customer.erased", "A customer's personal data was erased (crypto-shredded).",
              _payload(customer_id=UUID, merged_ids={"type": "array", "items": UUID},
                       request_id=UUID, suppress={"type": "boolean"}, actor_id=ACTOR)),
    EventType("identity.linked", "New identities (email, phone, ...) were linked to a "
              "customer; ``kinds`` names their kinds (values are not in events).",
              _payload(customer_id=UUID, kinds=TEXTS, actor_id=ACTOR)),
    EventType("consent.changed", "A customer's consent for a channel and purpose changed.",
              _payload(customer_id=UUID, channel=TEXT, purpose=TEXT,
                       status={"type": "string", "enum": ["granted", "withdrawn"]},
                       source=TEXT, actor_id=ACTOR)),
    EventType("tracking.events_appended", "An ingestion commit of tracked behaviour events "
              "(Segment track, page, identify, ...): the workspace's event sequence numbers "
              "``first_seq``..``last_seq`` hold the ``stored`` ones (both null when every "
              "message was a duplicate, suppressed or rejected); ``sources`` counts, per "
              "source id, what the commit received, rejected, deduplicated and suppressed.",
              _payload(first_seq=OPTIONAL_COUNT, last_seq=OPTIONAL_COUNT, stored=COUNT,
                       received_at={"type": "string", "format": "date-time"},
                       sources={"type": "object", "additionalProperties": _payload(
                           received=COUNT, rejected=COUNT, deduplicated=COUNT,
                           suppressed=COUNT)})),
    EventType("channel.connected", "A channel (inbox address, number, page...) was connected.",
              _payload(channel_id=UUID, kind=TEXT, is_active={"type": "boolean"})),
    EventType("channel.updated", "A channel's name, configuration or state changed.",
              _payload(channel_id=UUID, kind=TEXT, is_active={"type": "boolean"})),
    EventType("conversation.created", "A customer started a new conversation.",
              _payload(conversation_id=UUID, customer_id=UUID, channel_id=UUID,
                       channel_kind=TEXT)),
    EventType("conversation.reopened", "A customer wrote into a conversation that was not "
              "open; it is open again.",
              _payload(conversation_id=UUID, previous_status=TEXT)),
    EventType("conversation.updated", "A conversation's status, assignment or tags changed; "
              "``fields`` names them.", _conversation(fields=TEXTS)),
    EventType("conversation.note_added", "An agent added an internal note.",
              _conversation(message_id=UUID)),
    EventType("conversation.merged", "Another conversation was merged into this one; "
              "``moved`` messages came over.", _conversation(source_id=UUID, moved=COUNT)),
    EventType("message.received", "A customer's message arrived on a channel.",
              _message(channel_kind=TEXT)),
    EventType("message.queued", "An agent's reply was queued for sending.",
              _conversation(message_id=UUID, channel_id=UUID)),
    EventType("message.sent", "A reply was handed to its channel's provider.", _message()),
    EventType("message.status_changed", "A message's delivery status moved (delivered, "
              "read, failed, ...); ``previous`` is the status before.",
              _message(previous=TEXT)),
    EventType("outbound.queued", "An outbound send passed its policies and was queued.",
              _outbound()),
    EventType("outbound.deferred", "An outbound send was deferred (quiet hours, caps, "
              "provider limits); ``reason`` says why.", _outbound()),
    EventType("outbound.suppressed", "An outbound send was suppressed (no consent, "
              "suppression list, kill switch); ``reason`` says why.", _outbound()),
    EventType("outbound.sent", "An outbound send was handed to its provider.", _outbound()),
    EventType("outbound.status_changed", "An outbound send's delivery status moved.",
              _outbound()),
    EventType("outbound.policy_changed", "The workspace's sending policy (quiet hours, caps, "
              "channel order, rate limits) changed.", _outbound_control()),
    EventType("outbound.marketing_paused", "The marketing kill switch was set: marketing "
              "sends wait until it is lifted.", _outbound_control(reason=TEXT)),
    EventType("outbound.marketing_resumed", "The marketing kill switch was lifted; "
              "``released`` held sends went back to delivery.",
              _outbound_control(released=COUNT)),
    EventType("outbound.budget_changed", "A channel's daily send budget was set or removed "
              "(``daily_limit`` null).",
              _outbound_control(medium=TEXT, daily_limit={"type": ["integer", "null"]})),
    EventType("webhook_endpoint.disabled", "A webhook endpoint was disabled because it "
              "answered 410 Gone; it receives nothing until re-enabled.",
              _payload(endpoint_id=UUID, reason=TEXT)),
]

CATALOGUE: dict[str, EventType] = {item.type: item for item in _TYPES}


def is_valid_pattern(pattern: str) -> bool:
    """``*``, ``prefix.*`` or an exact type; ``*`` nowhere else."""
    if pattern == "*":
        return True
    stem = pattern.removesuffix(".*")
    return bool(stem) and "*" not in stem and not stem.startswith(".")


def matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def matches_any(patterns: list[str], event_type: str) -> bool:
    return any(matches(pattern, event_type) for pattern in patterns)


def unknown_patterns(patterns: list[str]) -> list[str]:
    """The patterns that are malformed or match no catalogued event type."""
    return [pattern for pattern in patterns if not is_valid_pattern(pattern)
            or not any(matches(pattern, known) for known in CATALOGUE)]

"""A call record from a contact-centre system, and the inbound item it becomes.

The record (one per call, sent when it ends)::

    {"call_id": "...", "direction": "inbound" | "outbound",
     "from": "+14155550100", "to": "+14155550199",            # E.164
     "started_at": "2024-05-01T09:30:00Z", "ended_at": "..." | null,
     "duration_seconds": 192,
     "status": "completed" | "missed" | "voicemail" | "failed" | "busy",
     "agent_email": "agent@example.com" | null,
     "recording": {"url": "https://...", "id": "...", "duration_seconds": 190} | null,
     "transcript": {"language": "en",
                    "turns": [{"speaker": "customer" | "agent" | "system",
                               "start": 0.0, "end": 3.2, "text": "..."}]} | null}

A transcript holds at most 5,000 turns and 200,000 characters; each turn ends no earlier
than it starts, and turns come in order of their start (which quality scoring and
speech analytics rely on).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cxprism.channels.protocol import Address, InboundMessage, ItemKind
from cxprism.channels.social.payloads import Identifier, Language, UtcDatetime, WebUrl
from cxprism.kit.validation import check_text

MAX_TURNS = 5_000
MAX_TRANSCRIPT_CHARS = 200_000
MAX_CALL_SECONDS = 7 * 24 * 3600  # no call lasts a week; larger values are corrupt
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SPEAKER_LABELS = {"customer": "Customer", "agent": "Agent", "system": "System"}

Direction = Literal["inbound", "outbound"]
CallStatus = Literal["completed", "missed", "voicemail", "failed", "busy"]
Speaker = Literal["customer", "agent", "system"]


def check_e164(value: str) -> str:
    if not _E164.fullmatch(value):
        raise ValueError("must be an E.164 phone number such as +14155550100")
    return value


def check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address")
    return value


E164 = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(check_e164)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=320),
    AfterValidator(check_email)]
TurnText = Annotated[
    str, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS), AfterValidator(check_text)]
Seconds = Annotated[float, Field(ge=0, le=MAX_CALL_SECONDS, allow_inf_nan=False)]
WholeSeconds = Annotated[int, Field(ge=0, le=MAX_CALL_SECONDS)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class Turn(_Record):
    speaker: Speaker
    start: Seconds
    end: Seconds
    text: TurnText

    @model_validator(mode="after")
    def _ends_after_start(self) -> Turn:
        if self.end < self.start:
            raise ValueError("a turn must not end before it starts")
        return self


class Transcript(_Record):
    language: Language | None = None
    turns: list[Turn] = Field(default_factory=list, max_length=MAX_TURNS)

    @model_validator(mode="after")
    def _ordered_and_bounded(self) -> Transcript:
        for index in range(1, len(self.turns)):
            if self.turns[index].start < self.turns[index - 1].start:
                raise ValueError(f"turn {index} starts before turn {index - 1}; "
                                 "turns must be in order of their start")
        total = sum(len(turn.text) for turn in self.turns)
        if total > MAX_TRANSCRIPT_CHARS:
            raise ValueError(f"the transcript has {total:,} characters; "
                             f"at most {MAX_TRANSCRIPT_CHARS:,} are allowed")
        return self


class Recording(_Record):
    url: WebUrl
    id: Identifier | None = None
    duration_seconds: WholeSeconds | None = None


class CallRecord(_Record):
    call_id: Identifier
    direction: Direction
    from_: E164 = Field(alias="from")
    to: E164
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    duration_seconds: WholeSeconds | None = None
    status: CallStatus
    agent_email: Email | None = None
    recording: Recording | None = None
    transcript: Transcript | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> CallRecord:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        return self

    @property
    def customer_number(self) -> str:
        return self.from_ if self.direction == "inbound" else self.to

    @property
    def line_number(self) -> str:
        """The company's side of the call."""
        return self.to if self.direction == "inbound" else self.from_

    @property
    def duration(self) -> int:
        if self.duration_seconds is not None:
            return self.duration_seconds
        if self.ended_at is not None:
            elapsed = int((self.ended_at - self.started_at).total_seconds())
            return min(elapsed, MAX_CALL_SECONDS)
        return 0


def format_duration(seconds: int) -> str:
    """``45 s``, ``3 min 12 s``, ``1 h 0 min 5 s``: every unit below the largest is shown."""
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def call_summary(direction: str, duration: int, status: str) -> str:
    """The text of a call without a transcript: ``Inbound call, 3 min 12 s (completed)``."""
    return f"{direction.capitalize()} call, {format_duration(duration)} ({status})"


def render_transcript(turns: list[Turn]) -> str:
    """One line per spoken turn, ``Customer: ...``; a turn's own line breaks become spaces."""
    lines = []
    for turn in turns:
        text = " ".join(turn.text.split())
        if text:
            lines.append(f"{SPEAKER_LABELS[turn.speaker]}: {text}")
    return "\n".join(lines)


def to_inbound(record: CallRecord, system: str) -> InboundMessage:
    turns = record.transcript.turns if record.transcript is not None else []
    text = render_transcript(turns) or call_summary(
        record.direction, record.duration, record.status)
    transcript: dict[str, Any] | None = None
    if record.transcript is not None:
        transcript = {"language": record.transcript.language,
                      "turns": [turn.model_dump() for turn in turns]}
    return InboundMessage(
        kind=ItemKind.CALL,
        external_id=record.call_id,
        sender=[Address(kind="phone", value=record.customer_number)],
        text=text,
        sent_at=record.started_at,
        metadata={
            "direction": record.direction,
            "duration_seconds": record.duration,
            "status": record.status,
            "line": record.line_number,
            "ended_at": record.ended_at.isoformat() if record.ended_at else None,
            "recording": record.recording.model_dump() if record.recording else None,
            "transcript": transcript,
            "agent_email": record.agent_email,
            "system": system,
        },
    )

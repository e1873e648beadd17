"""A workspace's sending rules, read from its policy row (or the defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cxprism.outbound.models import Policy
from cxprism.outbound.policies import (
    HELD_IN_QUIET_HOURS,
    Cap,
    QuietHours,
    caps_from,
    parse_clock,
)


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    default_locale: str = "en"
    quiet_hours: QuietHours | None = None
    caps: list[Cap] = field(default_factory=list)
    channel_order: list[str] = field(default_factory=list)
    rate_limits: dict[str, float] = field(default_factory=dict)
    marketing_paused: bool = False

    def today(self, now: datetime) -> date:
        """Budgets count per workspace-local day."""
        return now.astimezone(self.timezone).date()


def zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback  # a customer's odd timezone trait must not block their messages


def rules_from(policy: Policy | None) -> Rules:
    if policy is None:
        return Rules()
    quiet = None
    if policy.quiet_hours:
        purposes = policy.quiet_hours.get("purposes")
        quiet = QuietHours(parse_clock(policy.quiet_hours["start"]),
                           parse_clock(policy.quiet_hours["end"]),
                           frozenset(purposes) if purposes is not None
                           else HELD_IN_QUIET_HOURS)
    return Rules(timezone=zone(policy.timezone, ZoneInfo("UTC")),
                 default_locale=policy.default_locale, quiet_hours=quiet,
                 caps=caps_from(policy.caps), channel_order=list(policy.channel_order),
                 rate_limits={k: float(v) for k, v in policy.rate_limits.items()},
                 marketing_paused=policy.marketing_paused)

"""Roles and what each may do. Every route names the permission it needs."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    QA_EVALUATOR = "qa_evaluator"
    ANALYST = "analyst"


class Permission(StrEnum):
    WORKSPACE_MANAGE = "workspace.manage"  # settings, users, API keys, sources
    USERS_READ = "users.read"
    TEAMS_MANAGE = "teams.manage"
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_WRITE = "customers.write"
    CUSTOMERS_MERGE = "customers.merge"
    PRIVACY_MANAGE = "privacy.manage"  # data-subject export and erasure
    JOBS_MANAGE = "jobs.manage"
    TRACKING_READ = "tracking.read"  # tracked events, the event catalogue, source counters
    CHANNELS_MANAGE = "channels.manage"  # connect, reconfigure and disable channels
    CONVERSATIONS_READ = "conversations.read"
    CONVERSATIONS_WRITE = "conversations.write"  # reply, note, assign, tag, status, merge
    OUTBOUND_READ = "outbound.read"  # sends and their state history, templates, budgets
    OUTBOUND_SEND = "outbound.send"  # send a message through the pipeline
    OUTBOUND_MANAGE = "outbound.manage"  # templates, policies, budgets, the kill switch
    WEBHOOKS_MANAGE = "webhooks.manage"  # subscriptions, deliveries, redelivery
    EVENTS_READ = "events.read"  # the domain-event catalogue
    LEDGER_READ = "ledger.read"  # the trust ledger: key, checkpoints, entries, receipts
    LEDGER_MANAGE = "ledger.manage"  # sign checkpoints on demand, audit, the witness


_READ_ONLY = {Permission.USERS_READ, Permission.CUSTOMERS_READ, Permission.TRACKING_READ,
              Permission.CONVERSATIONS_READ, Permission.OUTBOUND_READ, Permission.EVENTS_READ,
              Permission.LEDGER_READ}
_FRONT_LINE = _READ_ONLY | {Permission.CUSTOMERS_WRITE, Permission.CUSTOMERS_MERGE,
                            Permission.CONVERSATIONS_WRITE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SUPERVISOR: frozenset(_FRONT_LINE | {Permission.TEAMS_MANAGE, Permission.JOBS_MANAGE,
                                              Permission.OUTBOUND_SEND,
                                              Permission.OUTBOUND_MANAGE}),
    Role.AGENT: frozenset(_FRONT_LINE),
    Role.QA_EVALUATOR: frozenset(_READ_ONLY),
    Role.ANALYST: frozenset(_READ_ONLY),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]

"""Outgoing webhooks: subscriptions to domain events, signed (Standard Webhooks) and
retried delivery through the SSRF guard, a delivery log, and the event catalogue."""

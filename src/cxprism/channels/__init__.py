"""Channels: the connector protocol, the registry of connectors, and connected channels."""

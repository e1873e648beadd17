"""The web chat channel: our embeddable widget, talking to cxprism over WebSocket."""

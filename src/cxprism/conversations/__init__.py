"""Conversations: every channel's messages, threaded per customer, answered from one inbox."""

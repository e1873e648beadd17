"""Behaviour trails: Segment-compatible ingestion, the event store, timelines."""

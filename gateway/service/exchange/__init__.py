"""Inbound exchanges: staging, the batch pipeline, messages, replay, checks and retractions."""

"""Kafka plumbing: the outbox relay, idempotent consumers, dead letters and the broker factory."""

"""Shared mechanisms of the faka services: contracts, messaging, persistence, settings, telemetry."""

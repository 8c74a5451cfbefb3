"""Supplier adapters: one interface, a configurable HTTP-JSON client and this platform's agent API."""

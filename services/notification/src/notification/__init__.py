"""Notification service: tells buyers about their orders (for now: the delivered keys, by email)."""

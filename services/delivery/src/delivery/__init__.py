"""Delivery service: turns keys allocated to a paid order into a recorded delivery, once per order."""

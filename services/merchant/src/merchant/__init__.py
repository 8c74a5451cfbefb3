"""Merchant service: owns the shops (tenants) of the platform, their slugs, custom domains and lifecycle."""

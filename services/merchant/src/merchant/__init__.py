"""Merchant service: owns the shops (tenants) of the platform, their slugs, custom domains and lifecycle,
and the people who work in them: accounts, sessions, TOTP, one-time links, memberships and platform roles."""

"""The commission service."""

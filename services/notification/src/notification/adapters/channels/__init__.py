"""Channel adapters: each sends one OutgoingMessage over a real protocol and classes its failures."""

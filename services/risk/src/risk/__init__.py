"""Risk service: decides on every placed order (rules, blacklists, velocity windows, review queue)."""

"""Persistence shared by every service: engine, unit of work, messaging tables, migrations."""

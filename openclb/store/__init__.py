"""Persistence: one schema for SQLite and PostgreSQL, migrations, the Store."""

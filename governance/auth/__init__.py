"""Users, their roles and API keys (stored only as hashes)."""

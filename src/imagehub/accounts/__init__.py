"""API keys and (later) credits, quotas and usage: everything stored in the database."""

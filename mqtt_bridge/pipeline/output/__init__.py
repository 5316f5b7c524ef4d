"""Output: sending the outbox to Exist."""

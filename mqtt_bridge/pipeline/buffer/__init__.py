"""Buffer: the durable outbox between the broker and Exist."""

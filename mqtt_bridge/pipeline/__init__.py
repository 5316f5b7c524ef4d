"""The message pipeline: input (MQTT) -> process (mappings) -> buffer (outbox) -> output (Exist)."""

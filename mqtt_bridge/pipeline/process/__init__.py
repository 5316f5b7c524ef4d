"""Process: what one message means for Exist (mappings, modes, expressions)."""

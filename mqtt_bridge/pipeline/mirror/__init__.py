"""The mirror: Exist's values, averages and insights read back and published on MQTT (``read:``),
inside the write side's request budget, writes first."""

"""Input: messages from the MQTT broker."""

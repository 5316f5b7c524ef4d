"""The Exist API v2 client library: requests, budget, credentials, attributes; nothing MQTT."""

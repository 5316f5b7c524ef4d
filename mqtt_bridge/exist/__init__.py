"""Exist (exist.io): its rules (``domain``) and, later, the API client."""

"""What exist.io enforces, in plain Python (no Flask): the store of users, attributes and values
with the rules of every read and write, the catalog of templates, value types, OAuth2 clients and
tokens, the rate limit, paging, the clock, the ledger of applied changes and the wire errors.

Imports nothing else of mock_exist: ``control/`` and ``http/`` build on it.
"""

"""Diagnosis for people: what ``exist-bridge status`` shows beyond the outbox's counts (the broker
link, each total and why it waits), and trying mappings (``exist-bridge test``, ``run --dry-run``).
"""

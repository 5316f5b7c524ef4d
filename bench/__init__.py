"""Benchmarks; run from the checkout's root as modules, e.g. ``python -m bench.ingest``."""

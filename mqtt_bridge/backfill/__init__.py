"""``exist-bridge backfill``: history (Home Assistant, CSV) through the mappings into Exist.

``sources`` reads history, ``replay`` runs it through the mapping engine into day totals, ``send``
plans and sends them within the request budget, ``command`` is the CLI.
"""

from .command import BackfillOptions, add_backfill, run_backfill

__all__ = ["BackfillOptions", "add_backfill", "run_backfill"]

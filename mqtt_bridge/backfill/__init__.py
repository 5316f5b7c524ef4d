"""``exist-bridge backfill``: history (Home Assistant, CSV) through the mappings into Exist.

``sources`` reads history (a CSV, Home Assistant's REST history), ``statistics`` Home Assistant's
long-term statistics (over ``ha_websocket``), ``replay`` runs history through the mapping engine
into day totals, ``plan`` makes the plan (the CLI's and the add-on panel's), ``send`` sends it
within the request budget, ``command`` is the CLI.
"""

from .command import BackfillOptions, add_backfill, run_backfill

__all__ = ["BackfillOptions", "add_backfill", "run_backfill"]

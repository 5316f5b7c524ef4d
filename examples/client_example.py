"""Use the Exist client on its own (no MQTT): acquire ``coffees``, count one more coffee, and set
today's ``steps``.

    EXIST_TOKEN=<your token> python examples/client_example.py
    EXIST_TOKEN=0123... EXIST_BASE_URL=http://127.0.0.1:5000 python examples/client_example.py

EXIST_TOKEN is a personal developer token (https://exist.io/account/apps/ shows one for each of
your apps) or any OAuth2 access token with the ``food_write`` and ``activity_write`` scopes.
EXIST_BASE_URL defaults to https://exist.io; point it at ``mock-exist`` to try this offline.
"""

from __future__ import annotations

import os
import sys

from mqtt_bridge.exist.attributes import AttributeManager
from mqtt_bridge.exist.budget import RequestBudget
from mqtt_bridge.exist.client import ExistClient
from mqtt_bridge.exist.errors import ExistError, OutcomeUnknown


def main() -> int:
    token = os.environ.get("EXIST_TOKEN")
    if not token:
        print("set EXIST_TOKEN to a personal or OAuth2 access token", file=sys.stderr)
        return 2
    base_url = os.environ.get("EXIST_BASE_URL", "https://exist.io")

    # 280 requests per hour at most, remembered across runs in this file
    budget = RequestBudget(os.environ.get("EXIST_BUDGET_FILE", "exist_budget.json"))
    with ExistClient(token, base_url=base_url, budget=budget) as client:
        # The manager acquires attributes (once: it remembers in its state file), learns their
        # value types and the user's timezone from Exist, and coerces values before sending.
        manager = AttributeManager(
            client,
            [{"template": "coffees"}, {"template": "steps"}],
            state_path=os.environ.get("EXIST_STATE_FILE", "exist_attributes.json"),
        )
        try:
            # the profile gives the user's timezone, so "today" is the user's today
            print(f"timezone: {manager.timezone()}")

            report = manager.bootstrap()
            print(f"acquired: {report.acquired or '-'}  already ours: {report.skipped or '-'}")
            for failure in report.failed:
                print(f"  could not acquire {failure.name}: {failure.error}")

            today = manager.today()
            try:
                result = manager.increment([{"name": "coffees", "date": today, "value": 1}])
            except OutcomeUnknown as err:
                # Increments are not retried after a 5xx or a lost answer: it may have landed.
                print(f"coffee increment may or may not have been applied: {err}")
            else:
                for item in result.success:
                    print(f"coffees on {today}: now {item['current']}")
                for failure in result.failures:
                    print(f"coffees refused: {failure.error_code}: {failure.error}")

            result = manager.update([{"name": "steps", "date": today, "value": 4321}])
            print(f"steps on {today}: {'saved' if result.ok else result.failures[0].error}")
        except ExistError as err:
            print(f"Exist error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

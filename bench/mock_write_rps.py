"""How many write requests per second mock-exist serves over real HTTP.

Starts ``mock_exist.server.MockServer`` on loopback (with a rate limit nobody reaches), then for
each scenario sends ``--requests`` requests through one ``requests.Session`` (keep-alive), repeats
that ``--repeat`` times and prints the median rate:

- ``update x35``: ``POST /api/2/attributes/update/`` with 35 items (the per-request cap);
- ``increment x1``: ``POST /api/2/attributes/increment/`` with 1 item;
- ``GET attributes``: ``GET /api/2/attributes/`` (a read, for comparison).

Client and server share the machine (and the GIL with the server's waitress worker threads), so
the numbers are a floor for the mock, not a property of exist.io.
Run: ``python -m bench.mock_write_rps [--help]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import requests

from mock_exist.server import MockServer

ATTRIBUTES = [f"bench_{i:02d}" for i in range(35)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure mock-exist write (and read) requests per second over real HTTP.",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        metavar="N",
        help="requests per repetition of each scenario (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        metavar="R",
        help="repetitions of each scenario; the median is reported (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        metavar="W",
        help="untimed requests before each scenario (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--requests and --repeat must be at least 1, --warmup at least 0")
    return args


def seed(server: MockServer) -> None:
    """35 integer attributes owned by the default client, so every item of a write succeeds."""
    for name in ATTRIBUTES:
        server.state.seed_attribute(name, value_type=0, owner=server.state.config.client_id)


def scenarios(server: MockServer, session: requests.Session) -> dict[str, Callable[[int], None]]:
    api = f"{server.url}/api/2"

    def update(i: int) -> None:
        day = f"2024-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}"
        items = [{"name": name, "date": day, "value": i} for name in ATTRIBUTES]
        check(session.post(f"{api}/attributes/update/", json=items, timeout=30))

    def increment(i: int) -> None:
        items = [{"name": ATTRIBUTES[i % 35], "date": "2024-01-01", "value": 1}]
        check(session.post(f"{api}/attributes/increment/", json=items, timeout=30))

    def read(i: int) -> None:
        check(session.get(f"{api}/attributes/", params={"limit": 100}, timeout=30))

    return {"update x35": update, "increment x1": increment, "GET attributes": read}


def check(response: requests.Response) -> None:
    if response.status_code != 200:
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")


def measure(send: Callable[[int], None], requests_: int, repeat: int, warmup: int) -> list[float]:
    for i in range(warmup):
        send(i)
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(requests_):
            send(i)
        rates.append(requests_ / (time.perf_counter() - start))
    return rates


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mock_exist.access").setLevel(logging.WARNING)  # no access log per request
    print(
        f"mock-exist write throughput: {os.cpu_count()} CPU core(s) (os.cpu_count()), "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    print(
        f"{args.requests} requests x {args.repeat} repetitions per scenario, one keep-alive "
        "session, loopback\n"
    )
    rows = []
    with MockServer({"rate_limit": 10**9}) as server:
        seed(server)
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {server.token}"
            for name, send in scenarios(server, session).items():
                rates = measure(send, args.requests, args.repeat, args.warmup)
                items = 35 if name.startswith("update") else 1
                rows.append((name, statistics.median(rates), min(rates), max(rates), items))

    print(
        f"{'scenario':<16} {'median req/s':>13} {'min':>9} {'max':>9} {'items/s':>10} {'ms/req':>8}"
    )
    for name, median, low, high, items in rows:
        print(
            f"{name:<16} {median:>13.1f} {low:>9.1f} {high:>9.1f} {median * items:>10.0f}"
            f" {1000 / median:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``exist-bridge`` for subprocess fault tests, with test seams injected from outside the product:

    python -m tests.support.bridge_main [--ack-delay S] [--clock-offset S] -- run -c FILE ...

``--ack-delay`` sleeps before each batch of broker acknowledgements (after the commit), widening
the window in which a kill leaves messages stored but unacknowledged, so the broker redelivers
them. ``--clock-offset`` moves the bridge's receive clock (local dates), e.g. across a midnight.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bridge_main")
    parser.add_argument("--ack-delay", type=float, default=0.0)
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args

    from mqtt_bridge import cli, service
    from mqtt_bridge.pipeline.input.mqtt import BrokerLink

    if opts.ack_delay:
        ack_many = BrokerLink.ack_many

        def delayed_ack_many(self: BrokerLink, acks: list[tuple[int, int]]) -> None:
            time.sleep(opts.ack_delay)
            ack_many(self, acks)

        BrokerLink.ack_many = delayed_ack_many  # type: ignore[method-assign]
    if opts.clock_offset:
        offset = opts.clock_offset
        service.run = functools.partial(service.run, clock=lambda: time.time() + offset)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())

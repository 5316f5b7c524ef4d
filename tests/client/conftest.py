"""Fixtures for the Exist client's tests: a fake clock, and clients wired to ``responses``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import responses

from mqtt_bridge.exist.budget import RequestBudget
from mqtt_bridge.exist.client import ExistClient

from ..support.exist_client import API, BASE, TOKEN, FakeClock, bodies, echo_write

__all__ = ["API", "BASE", "TOKEN", "FakeClock", "bodies", "echo_write"]  # importable from here too


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., ExistClient]:
    """``make_client(**overrides)``: a client on ``BASE`` with the fake clock and sleep."""

    def make(credentials: object = TOKEN, **kwargs: object) -> ExistClient:
        kwargs.setdefault("budget", RequestBudget(clock=clock))
        return ExistClient(
            credentials,  # type: ignore[arg-type]
            base_url=BASE,
            clock=clock,
            sleep=clock.sleep,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def client(make_client: Callable[..., ExistClient]) -> ExistClient:
    return make_client()

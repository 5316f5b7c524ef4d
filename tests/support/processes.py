"""Which tests start processes: the ``slow`` marker is applied by what a test reaches, and a test
without it may not start one (tests/conftest.py uses both)."""

from __future__ import annotations

import contextlib
import inspect
import subprocess
import types
from collections.abc import Iterator

import pytest

# What starts a process: a test that reaches one of these (itself, through a function or class
# of its own module, or through a fixture) is ``slow``.
PROCESS_MODULES = frozenset(
    {
        "subprocess",
        "tests.support.bridge",  # exist-bridge as a subprocess; an in-process bridge on a broker
        "tests.support.bridge_main",
        "tests.support.browser",  # chromium
        "tests.support.cli",  # exist-bridge's command line
        "tests.support.mock_cli",  # mock-exist's command line
        "tests.support.mosquitto",
        "tests.support.outbox_runs",
    }
)
# ... and the product's own functions that start one
PROCESS_FUNCTIONS = frozenset(
    {
        "exist_demo.demo.run_demo",  # a broker
        "exist_demo.broker.start_broker",
        "release.tracked_text_files",  # dists/release.py: git ls-files
    }
)


def _names(code: types.CodeType) -> Iterator[str]:
    """The global and attribute names a code object uses, its nested functions' included."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def starts_processes(obj: object, seen: set[int] | None = None) -> bool:
    """Whether the function or class ``obj`` uses a ``PROCESS_MODULES`` module or anything
    defined in one, directly or through the functions and classes of its own module."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if inspect.isclass(obj):
        members = vars(obj).values()
        return any(starts_processes(m, seen) for m in members if inspect.isfunction(m))
    code, scope = getattr(obj, "__code__", None), getattr(obj, "__globals__", None)
    if code is None or scope is None:
        return False
    names = set(_names(code))
    modules = [scope[n] for n in names if inspect.ismodule(scope.get(n))]
    for name in names:
        if name in PROCESS_MODULES or f"tests.{name}" in PROCESS_MODULES:
            return True  # imported inside the function: ``import subprocess``, ``from ..support.x``
        if any(f"{m.__name__}.{name}" in PROCESS_FUNCTIONS for m in modules):
            return True  # called through its module: ``release.tracked_text_files()``
        target = scope.get(name)
        if target is None:
            continue
        if inspect.ismodule(target):
            if target.__name__ in PROCESS_MODULES:
                return True
            continue
        module = getattr(target, "__module__", None)
        if module in PROCESS_MODULES:
            return True
        if f"{module}.{getattr(target, '__qualname__', '')}" in PROCESS_FUNCTIONS:
            return True
        own = module == obj.__module__  # type: ignore[attr-defined]
        helper = inspect.isfunction(target) or inspect.isclass(target)
        if own and helper and starts_processes(target, seen):
            return True
    return False


def fixture_functions(item: pytest.Item) -> Iterator[object]:
    """The functions of the fixtures ``item`` uses (directly or through other fixtures)."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            yield fixturedef.func


class NoProcesses:
    """Installed around a test that is not ``slow`` (its setup and call): starting a process
    fails it, naming it."""

    def __init__(self, item: pytest.Item):
        self.item = item
        self.popen_init = subprocess.Popen.__init__

    def __enter__(self) -> None:
        nodeid = self.item.nodeid

        def refuse(popen, args, *more, **kwargs):
            raise AssertionError(
                f"{nodeid} starts a process ({args!r}) but is not marked slow: mark it "
                "(pytest.mark.slow), or add the helper it uses to PROCESS_MODULES in "
                "tests/support/processes.py"
            )

        subprocess.Popen.__init__ = refuse  # type: ignore[method-assign]

    def __exit__(self, *_exc: object) -> None:
        subprocess.Popen.__init__ = self.popen_init  # type: ignore[method-assign]


def guarded(item: pytest.Item) -> contextlib.AbstractContextManager:
    """``NoProcesses`` around a test that is not ``slow``; nothing around one that is."""
    return contextlib.nullcontext() if item.get_closest_marker("slow") else NoProcesses(item)

"""The project's images, built once per test session from this checkout with buildah, on the
stand-in base (tests/support/standin.py): docker/Dockerfile's bridge (the default target) and
mock (``--target mock``), and the add-on's exist-bridge/Dockerfile. Each image is removed at the
end of the session; how long each took to build and its size are written to
``test-artifacts/images.json``."""

from __future__ import annotations

import json

import pytest

from ..support.browser import ARTIFACTS
from ..support.buildah import ARCH, ROOT, VERSION, Buildah
from ..support.standin import standin_image

DOCKERFILE = ROOT / "docker" / "Dockerfile"
ADDON_DOCKERFILE = ROOT / "exist-bridge" / "Dockerfile"


@pytest.fixture(scope="session")
def buildah() -> Buildah:
    tool = Buildah()
    tool.remove_leftovers()
    return tool


@pytest.fixture(scope="session")
def base(buildah: Buildah) -> str:
    """The stand-in base image (made on the first run, then reused)."""
    return standin_image(buildah)


@pytest.fixture(scope="session")
def built(buildah: Buildah, base: str):
    """What the session built: name -> {seconds, size}; written out at the end."""
    record: dict[str, dict] = {}
    yield record
    if record:
        record["stand-in base"] = {"size": buildah.size(base), "image": base}
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "images.json").write_text(json.dumps(record, indent=2) + "\n")


def _build(buildah: Buildah, built: dict, what: str, dockerfile, **options):
    image = buildah.build(what, dockerfile, **options)
    built[what] = {"seconds": round(image.seconds, 1), "size": buildah.size(image.name)}
    return image.name


@pytest.fixture(scope="session")
def bridge_image(buildah: Buildah, base: str, built: dict):
    name = _build(buildah, built, "bridge", DOCKERFILE, build_args={"PYTHON_IMAGE": base})
    yield name
    buildah.remove(name)


@pytest.fixture(scope="session")
def mock_image(buildah: Buildah, base: str, built: dict):
    name = _build(
        buildah, built, "mock", DOCKERFILE, build_args={"PYTHON_IMAGE": base}, target="mock"
    )
    yield name
    buildah.remove(name)


@pytest.fixture(scope="session")
def addon_build_args(base: str) -> dict[str, str]:
    """What the builder action passes (BUILD_ARCH, BUILD_VERSION), on the stand-in base."""
    return {"BUILD_FROM": base, "BUILD_VERSION": VERSION, "BUILD_ARCH": ARCH}


@pytest.fixture(scope="session")
def addon_image(buildah: Buildah, addon_build_args: dict, built: dict):
    name = _build(buildah, built, "addon", ADDON_DOCKERFILE, build_args=addon_build_args)
    yield name
    buildah.remove(name)

"""The recipes can be tried offline without editing a tracked file ($EXIST_BASE_URL overrides
exist.base_url), and each says how long its first values take."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"
NAMES = sorted(p.stem for p in RECIPES.glob("*.yaml"))


@pytest.mark.parametrize("name", NAMES)
def test_each_recipe_says_how_long_its_first_values_take(name):
    text = (RECIPES / f"{name}.yaml").read_text()
    assert "\n# First values: " in text.split("\nexist:", 1)[0]


@pytest.mark.parametrize("name", NAMES)
def test_exist_base_url_points_a_recipe_at_the_emulator(name, monkeypatch):
    monkeypatch.setenv("EXIST_TOKEN", "a-personal-token")
    monkeypatch.delenv("EXIST_BASE_URL", raising=False)
    assert load_config(RECIPES / f"{name}.yaml").exist.base_url == "https://exist.io"
    monkeypatch.setenv("EXIST_BASE_URL", "http://127.0.0.1:5000")
    assert load_config(RECIPES / f"{name}.yaml").exist.base_url == "http://127.0.0.1:5000"
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["check", "-c", str(RECIPES / f"{name}.yaml")], out, err) == 0
    assert "Exist http://127.0.0.1:5000 from $EXIST_BASE_URL)" in out.getvalue()


def test_a_bad_exist_base_url_is_named(monkeypatch):
    monkeypatch.setenv("EXIST_TOKEN", "a-personal-token")
    monkeypatch.setenv("EXIST_BASE_URL", "127.0.0.1:5000")
    with pytest.raises(ConfigError) as err:
        load_config(RECIPES / "coffee_buttons.yaml")
    [problem] = err.value.problems
    assert problem.path == "exist.base_url"
    assert problem.message.startswith("$EXIST_BASE_URL: expected an http(s) URL")


def test_the_recipes_readme_says_how():
    text = (RECIPES / "README.md").read_text()
    assert "export EXIST_BASE_URL=http://127.0.0.1:5000" in text

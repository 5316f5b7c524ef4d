"""From text to ``BridgeConfig``: read the YAML (``source``), validate it (``schema``), check
across keys (``checks``), then build the settings dataclasses (``model``) from the valid data.

The dataclasses are built by field name from the validated sections, so a new key needs no code
here: only its schema entry and its dataclass field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import voluptuous as vol

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from . import validators as v
from .checks import cross_checks, file_checks
from .model import (
    SINGLE_ACCOUNT,
    AccountSettings,
    AttributeSpec,
    BridgeConfig,
    BridgeSettings,
    ConfigError,
    EdgeSpec,
    ExistSettings,
    HttpSettings,
    MappingSpec,
    MqttSettings,
    Problem,
    ReadSettings,
    TlsSettings,
    effective_delay,
)
from .schema import CONFIG_SCHEMA, schema_problems
from .source import (
    SECRET_FILES,
    SECRETS_FILE,
    Document,
    format_path,
    read_secret_file,
    resolve,
)

T = TypeVar("T", bound="DataclassInstance")


class _Builder:
    """Builds the dataclasses from the validated data; a secret file that can't be read is a
    problem added to ``problems``."""

    def __init__(self, doc: Document, base_dir: Path | None, problems: list[Problem]):
        self.doc = doc
        self.base_dir = base_dir
        self.problems = problems

    def make(self, cls: type[T], block: dict, **values: Any) -> T:
        """``cls`` from the keys of ``block`` that are its fields (paths taken relative to the
        base directory), then ``values``."""
        names = {f.name for f in fields(cls)}
        found = {key: self.path(value) for key, value in block.items() if key in names}
        return cls(**{**found, **values})

    def path(self, value: Any) -> Any:
        return resolve(value, self.base_dir) if isinstance(value, Path) else value

    def secrets(self, section: str, block: dict) -> dict[str, Any]:
        """The section's secrets that were given as ``<key>_file``, read from their files."""
        out = {}
        for where, key in SECRET_FILES:
            if where == section and f"{key}_file" in block:
                path = self.path(block[f"{key}_file"])
                out[key] = read_secret_file(path, (section, f"{key}_file"), self.doc, self.problems)
        return out

    def config(self, valid: dict) -> dict[str, Any]:
        """The ``BridgeConfig`` fields, but for warnings and source."""
        e, m = valid["exist"], valid["mqtt"]
        tls = None if m.get("tls") is None else self.make(TlsSettings, m["tls"])
        bridge = self.bridge(valid["bridge"])
        accounts = tuple(self.account(i, a, e) for i, a in enumerate(e.get("accounts") or ()))
        default = accounts[0].name if accounts else SINGLE_ACCOUNT
        return {
            "exist": self.make(ExistSettings, e, accounts=accounts, **self.secrets("exist", e)),
            "mqtt": self.make(
                MqttSettings,
                m,
                tls=tls,
                port=m.get("port", 8883 if tls is not None else 1883),
                **self.secrets("mqtt", m),
            ),
            "bridge": bridge,
            "http": self.make(HttpSettings, valid["http"]),
            "read": self.read(valid.get("read"), default),
            "attributes": [self.attribute(i, a) for i, a in enumerate(valid["attributes"])],
            "mappings": [
                self.mapping(i, item, bridge, default) for i, item in enumerate(valid["mappings"])
            ],
        }

    def account(self, index: int, item: dict, exist: dict) -> AccountSettings:
        """An ``exist.accounts`` item; timezone and requests_per_hour default to ``exist``'s."""
        inherited = {k: exist[k] for k in ("timezone", "requests_per_hour") if k in exist}
        line = self.doc.line(("exist", "accounts", index))
        return self.make(AccountSettings, {**inherited, **item}, line=line)

    def bridge(self, block: dict) -> BridgeSettings:
        """``BridgeSettings``; the deprecated ``flush_interval`` stands for ``event_delay`` and
        ``total_delay`` where they are not given (``checks`` warns about it)."""
        raw = self.doc.data.get("bridge") if isinstance(self.doc.data, dict) else None
        given = raw if isinstance(raw, dict) else {}
        if "flush_interval" in block:
            block = {**block}
            for key in ("event_delay", "total_delay"):
                if key not in given:
                    block[key] = block["flush_interval"]
        return self.make(BridgeSettings, block)

    def read(self, block: dict | None, default: str) -> ReadSettings:
        """``ReadSettings``: off without the section; ``attributes: all`` is ``all``."""
        if block is None:
            return ReadSettings(account=default)
        chosen = block.get("attributes", ())
        every = chosen == "all"
        return self.make(
            ReadSettings,
            {"account": default, **block},
            attributes=() if every else chosen,
            all=every,
        )

    def attribute(self, index: int, item: dict) -> AttributeSpec:
        line = self.doc.line(("attributes", index))
        if "template" in item:  # a template's name is the template's
            return self.make(AttributeSpec, item, name=item["template"], line=line)
        return self.make(AttributeSpec, item, line=line)

    def mapping(self, index: int, item: dict, bridge: BridgeSettings, default: str) -> MappingSpec:
        edge = item.get("edge")
        if edge is not None:
            edge = EdgeSpec(to=edge["to"], from_=edge.get("from"), has_from="from" in edge)
        line = self.doc.line(("mappings", index))
        given = "account" in item
        spec = self.make(
            MappingSpec, {"account": default, **item}, edge=edge, line=line, account_given=given
        )
        return replace(spec, delay=effective_delay(spec, bridge))


def parse_config(
    text: str,
    source: str = "<string>",
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    check_files: bool = False,
    require_secrets: bool = True,
) -> BridgeConfig:
    """Parse and check a configuration; raises ``ConfigError`` listing every problem.

    ``source`` names the file in messages. Relative paths in the file (state_dir, token_file,
    *_file, TLS files) are taken relative to ``base_dir`` (default: the working directory).
    ``env`` replaces ``os.environ`` for ``!env`` (tests). ``check_files`` also opens the files
    the bridge needs to run (``exist-bridge check`` and ``run``): the token file must exist and
    hold tokens (a warning if group/others may read it), the TLS files must load as PEM.
    ``require_secrets=False``: an unset ``!env`` variable or missing ``!secret`` is no problem;
    the value is a placeholder and the key is listed in ``BridgeConfig.unset_secrets``.
    """
    base = Path(base_dir) if base_dir is not None else None
    secrets_file = (base if base is not None else Path.cwd()) / SECRETS_FILE
    doc = Document(
        text, os.environ if env is None else env, secrets_file, lenient=not require_secrets
    )
    problems = list(doc.problems)
    if doc.data is None and not problems:
        problems.append(Problem("", 1, "the file is empty; it needs at least exist and mappings"))
    elif doc.data is not None and not isinstance(doc.data, dict):
        problems.append(Problem("", doc.line(()), "expected a mapping of sections (exist, ...)"))
    if problems and not isinstance(doc.data, dict):
        raise ConfigError(problems, source)

    data = dict(doc.data)
    _base_url_override(data, os.environ if env is None else env, problems)
    for section in ("mqtt", "bridge", "http", "read"):
        if section in data and data[section] is None:
            data[section] = {}  # a section left with every key commented out
    valid = None
    try:
        valid = CONFIG_SCHEMA(data)
    except vol.MultipleInvalid as err:
        problems.extend(schema_problems(err, doc))
    cross, warnings = cross_checks(data, doc, base)
    problems.extend(cross)
    if check_files:
        cross, more = file_checks(data, doc, base)
        problems.extend(cross)
        warnings.extend(more)
    # A value from an unset !env variable fails validation too: report only the variable.
    unset = [format_path(path) for path in doc.env_missing]
    problems = [
        p
        for p in problems
        if not any(p.path == u or p.path.startswith((u + ".", u + "[")) for u in unset)
    ]
    problems.extend(doc.env_problems)
    if problems or valid is None:
        raise ConfigError(_ordered(problems), source)
    built = _Builder(doc, base, problems).config(valid)
    if problems:
        raise ConfigError(_ordered(problems), source)
    if doc.secrets_warning:
        warnings.append(Problem("", None, doc.secrets_warning))
    warnings = _ordered(warnings)
    return BridgeConfig(
        **built,
        warnings=[w.format(source) for w in warnings if not w.check_error],
        source=source,
        check_errors=[w.format(source) for w in warnings if w.check_error],
        unset_secrets=list(doc.unset_secrets),
    )


BASE_URL_VARIABLE = "EXIST_BASE_URL"  # overrides exist.base_url (try a recipe offline)


def _base_url_override(data: dict, env: Mapping[str, str], problems: list[Problem]) -> None:
    """``$EXIST_BASE_URL``, when set, replaces ``exist.base_url`` (the emulator, without editing
    a file; `exist-bridge authorize --exist-base-url` defaults to it too)."""
    value = env.get(BASE_URL_VARIABLE, "").strip()
    if not value or not isinstance(data.get("exist"), dict):
        return
    try:
        v.url(value)
    except vol.Invalid as err:
        problems.append(Problem("exist.base_url", None, f"${BASE_URL_VARIABLE}: {err.msg}"))
        return
    data["exist"] = {**data["exist"], "base_url": value}


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line if p.line is not None else 0, p.path))


def load_config(
    path: str | os.PathLike[str], *, check_files: bool = False, require_secrets: bool = True
) -> BridgeConfig:
    """Read and check the configuration file at ``path`` (relative paths inside it are taken
    relative to the file's directory); raises ``ConfigError``. ``check_files``: see
    ``parse_config`` (also ``require_secrets``)."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError([Problem("", None, f"can't read the file: {reason}")], source) from None
    return parse_config(
        text,
        source,
        base_dir=Path(path).resolve().parent,
        check_files=check_files,
        require_secrets=require_secrets,
    )

"""The backfill's plan: history (a CSV, Home Assistant's statistics or its REST history) replayed
into day totals, and what of them to send against the progress, the live bridge's days and the
budget. The CLI (``command``) and the add-on's panel (``addon.panel``) both plan with
``plan_backfill``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ..config.model import SINGLE_ACCOUNT, AccountSettings, BridgeConfig
from ..exist.budget import BudgetStatus, token_key
from ..exist.domain import TEMPLATES
from ..pipeline.output.exist_output import ExistAdapter, make_client
from ..pipeline.process.mapping import Mapping, build_mappings
from ..state_dir import account_dir
from . import replay as rp
from . import send as sd
from . import statistics as st
from .ha_websocket import HomeAssistantWebSocket, websocket_url
from .replay import Totals
from .sources import HomeAssistantHistory, SourceError, entity_topic, read_csv

HA_TOKEN_ENV = "HA_TOKEN"


@dataclass
class BackfillOptions:
    """What to backfill (the command line, or a test)."""

    start: date
    end: date | None = None  # default: yesterday, local
    home_assistant: str | None = None  # Home Assistant's URL
    ha_token: str | None = None
    statistics: bool = False  # the long-term statistics first, the REST history for the rest
    ha_websocket: str | None = None  # default: derived from home_assistant
    csv: Path | None = None
    entities: list[str] = field(default_factory=list)  # ENTITY or ENTITY=ATTRIBUTE:MODE
    statestream_prefix: str = "homeassistant"
    dry_run: bool = False
    overwrite: bool = False
    account: str | None = None  # the Exist account (exist.accounts[].name); None: the first


def backfill_account(config: BridgeConfig, options: BackfillOptions) -> AccountSettings:
    """The Exist account the history goes to: ``--account`` (``options.account``), else the
    first (the single account of a configuration without ``exist.accounts``)."""
    if options.account is None:
        return config.accounts[0]
    names = [a.name for a in config.accounts if a.name]
    if not names:
        raise ValueError(
            f"--account {options.account}: the configuration names no accounts (exist.accounts); "
            "leave --account out"
        )
    try:
        return config.account(options.account)
    except KeyError:
        raise ValueError(
            f"--account {options.account}: exist.accounts has no account of that name (it has "
            f"{', '.join(names)})"
        ) from None


def backfill_client(
    config: BridgeConfig, options: BackfillOptions, state_dir: Path, **kwargs: Any
) -> ExistAdapter:
    """The client of the account the history goes to (``backfill_account``): its token, budget
    and attributes (``kwargs``: ``make_client``'s ``clock`` and ``sleep``)."""
    account = backfill_account(config, options).name
    return make_client(config, state_dir, account=account, **kwargs)


def for_account(config: BridgeConfig, account: str) -> BridgeConfig:
    """``config`` as the backfill for ``account`` sees it: that account's mappings (which the
    history is replayed through) and attributes."""
    return dataclasses.replace(
        config,
        mappings=config.mappings_of(account),
        attributes=config.attributes_of(account),
    )


def parse_entity(text: str) -> tuple[str, str | None, str | None]:
    """``ENTITY`` or ``ENTITY=ATTRIBUTE:MODE`` (MODE default update)."""
    entity, sep, target = text.partition("=")
    entity = entity.strip()
    if not entity:
        raise ValueError(f"--entity {text!r}: no entity id")
    if not sep:
        return entity, None, None
    attribute, _, mode = target.partition(":")
    if not attribute.strip():
        raise ValueError(f"--entity {text!r}: no attribute after '='")
    return entity, attribute.strip(), (mode.strip().lower() or "update")


@dataclass
class Backfill:
    """What a run will do: where the history comes from, its dates and zone, the day totals the
    replay made, and the plan against the budget."""

    source: str
    start: date
    end: date
    timezone: str
    totals: Totals
    plan: sd.Plan
    progress: sd.Progress
    budget: BudgetStatus
    eta: float  # seconds the plan's requests wait for the budget, beyond what it has now
    account: str = SINGLE_ACCOUNT  # the Exist account it goes to
    first: bool = True  # the configuration's first account (it adopts the single account's rows)


# ------------------------------------------------------------------------------ plan


def plan_backfill(
    config: BridgeConfig, options: BackfillOptions, exist: ExistAdapter, now: float, stderr: TextIO
) -> Backfill:
    """Read the history, replay it into day totals and plan what to send (no request to Exist
    but the profile's time zone, when the configuration has none and it was never read).
    ``exist``: the client of the account the history goes to (``backfill_account``): its
    mappings, attributes, time zone, progress and the live bridge's days of that account."""
    account = backfill_account(config, options)
    config = for_account(config, account.name)
    timezone = account.timezone or exist.manager.timezone()
    zone = ZoneInfo(timezone)
    end = _last_day(options, datetime.fromtimestamp(now, zone).date())
    totals, source = _replay(config, options, exist, timezone, end, stderr)
    key = token_key(exist.client.credentials.access_token())
    # whose progress: a personal token, or an OAuth2 token file (refreshed)
    who = token_key(account.token.reveal()) if account.token else str(account.token_file)
    state_dir = Path(config.bridge.state_dir)
    progress = sd.Progress(account_dir(state_dir, account.name), f"{config.exist.base_url} {who}")
    configured = _configured_types(config)

    def known(name: str) -> bool:
        """Whether the backfill may send ``name``: configured, or owned (learned from Exist)."""
        return name in configured or exist.value_type(name) is not None

    first = account == config.accounts[0]
    written = sd.written_by_bridge(state_dir, account.name, first=first)
    plan = sd.make_plan(totals.values, progress, written, options.overwrite, known)
    budget = exist.client.budget.status(key)
    eta = sd.budget_eta(plan.requests, budget.remaining, budget.allowed, exist.client.budget.window)
    return Backfill(
        source,
        options.start,
        end,
        timezone,
        totals,
        plan,
        progress,
        budget,
        eta,
        account.name,
        first,
    )


def _last_day(options: BackfillOptions, today: date) -> date:
    """``--to`` (default yesterday), checked against ``--from`` and today."""
    end = options.end or today - timedelta(days=1)
    if end < options.start:
        raise ValueError(f"nothing to backfill: --to {end} is before --from {options.start}")
    if end >= today:
        raise ValueError(
            f"--to {end}: today ({today}) and later belong to the live bridge; backfill up to "
            "yesterday at most"
        )
    return end


def _configured_types(config: BridgeConfig) -> dict[str, int | None]:
    """The configuration's attributes and their value types (a template's from Exist's list)."""
    return {
        a.name: a.value_type if a.custom else TEMPLATES.get(a.template or "")
        for a in config.attributes
    }


def _replay(
    config: BridgeConfig,
    options: BackfillOptions,
    exist: ExistAdapter,
    timezone: str,
    end: date,
    stderr: TextIO,
) -> tuple[Totals, str]:
    """The day totals from ``--csv``, Home Assistant's statistics or its history, and where they
    came from."""
    configured = _configured_types(config)
    zone = ZoneInfo(timezone)

    def value_type(name: str) -> int | None:
        """An attribute's value type: learned from Exist, else the configuration's."""
        learned = exist.value_type(name)
        return learned if learned is not None else configured.get(name)

    try:
        if options.csv is not None:
            mappings, _, adhoc = _mappings(config, options.entities, exist)

            def topic_of(entity: str) -> str:
                return entity_topic(entity, set(adhoc), options.statestream_prefix)

            records, day_values = read_csv(options.csv, zone, topic_of, value_type)
            if day_values:
                return rp.day_values(day_values, options.start, end), str(options.csv)
            return rp.replay(records, mappings, timezone, options.start, end), str(options.csv)
        if not options.home_assistant or not options.entities:
            raise ValueError("give --csv FILE, or --home-assistant URL with --entity")
        if not options.ha_token:
            raise ValueError(f"no Home Assistant token: set {HA_TOKEN_ENV} or give --ha-token-file")
        where = f"Home Assistant at {options.home_assistant}"
        if options.statistics:
            totals = _statistics_then_history(config, options, exist, zone, end, value_type)
            return totals, f"{where} (long-term statistics; history where they have no days)"
        totals = _history(config, options, exist, options.entities, options.start, end, zone)
        return totals, where
    except SourceError as err:
        if len(err.problems) > 1:  # one line per bad row, then the summary (the CLI's error)
            for problem in err.problems:
                stderr.write(f"{problem}\n")
        raise ValueError(str(err)) from None


def _history(
    config: BridgeConfig,
    options: BackfillOptions,
    exist: ExistAdapter,
    entities: list[str],
    start: date,
    end: date,
    zone: ZoneInfo,
) -> Totals:
    """``entities`` (``--entity`` texts) from Home Assistant's REST history, replayed."""
    mappings, plain, adhoc = _mappings(config, entities, exist)
    assert options.home_assistant and options.ha_token
    ha = HomeAssistantHistory(options.home_assistant, options.ha_token)
    topics = {e: entity_topic(e, set(adhoc), options.statestream_prefix) for e in plain + adhoc}
    history = ha.records([*plain, *adhoc], start, end, zone, topics)
    return rp.replay(history, mappings, zone.key, start, end)


def _statistics_then_history(
    config: BridgeConfig,
    options: BackfillOptions,
    exist: ExistAdapter,
    zone: ZoneInfo,
    end: date,
    value_type: Callable[[str], int | None],
) -> Totals:
    """Day totals from the long-term statistics for every ``--entity`` that has them; from the
    REST history for the others and for the days statistics lack (kinds with a history mode);
    ``totals.sources`` says which per (attribute, date)."""
    given = list(dict.fromkeys(options.entities))  # the same --entity twice: once
    choices = [st.parse_choice(text) for text in given]
    wanted = [c for c in choices if c.attribute and (c.kind is None or c.kind in st.KINDS)]
    st.check_kinds(choices, rp.ADHOC_MODES)
    st.one_statistic_per_attribute(wanted, choices)
    url = options.ha_websocket or websocket_url(options.home_assistant or "")
    with HomeAssistantWebSocket(url, options.ha_token or "") as ws:
        read = st.read_statistics(ws, wanted, options.start, end, zone, value_type)
    totals = Totals(records=read.rows, events=len(read.values))
    for key, value in read.values.items():
        totals.values[key] = value
        totals.sources[key] = "statistics"
    texts = [t for t, c in zip(given, choices, strict=True) if c not in wanted]
    days: dict[str, set[str] | None] = {}  # attribute -> the days history fills (None: all)
    first, last = (options.start, end) if texts else (end, options.start)
    for entity, like in read.unknown.items():  # a typo, most likely
        totals.notes.append(
            f"{entity}: Home Assistant has no statistics of this id (did you mean "
            + " or ".join(like)
            + "?)"
        )
    lacking = [(c, None) for c in read.missing] + list(read.uncovered.items())
    for choice, dates in lacking:
        mode = "update" if choice.kind is None else st.HISTORY_MODE.get(choice.kind)
        lack = st.no_history(choice.entity, mode, choice.kind)
        if lack:
            n = len(dates) if dates else (end - options.start).days + 1
            totals.notes.append(
                f"left out: {choice.entity}: {n} day(s) without statistics, and {lack}"
            )
            continue
        texts.append(f"{choice.entity}={choice.attribute}:{mode}")
        days[choice.attribute or ""] = {d.isoformat() for d in dates} if dates else None
        first = min(first, dates[0] if dates else options.start)
        last = max(last, dates[-1] if dates else end)
    if texts:
        history = _history(config, options, exist, texts, first, last, zone)
        totals.merge(history, days, "history")
    return totals


def _mappings(
    config: BridgeConfig, entities: list[str], exist: ExistAdapter
) -> tuple[list[Mapping], list[str], list[str]]:
    """The configuration's mappings plus one per ``--entity ENTITY=ATTRIBUTE:MODE``; the plain
    ``--entity`` names (replayed on their statestream topics) and the mapped ones."""
    mappings = build_mappings(config, exist.value_type)
    plain: list[str] = []
    adhoc: list[str] = []
    for text in entities:
        entity, attribute, mode = parse_entity(text)
        if attribute is None or mode is None:  # (both None, or neither)
            plain.append(entity)
            continue
        adhoc.append(entity)
        learned = exist.value_type(attribute)
        if learned is None:  # not learned from Exist yet: a custom attribute's declared type
            learned = next((a.value_type for a in config.attributes if a.name == attribute), None)
        mappings.append(rp.adhoc_mapping(len(mappings), entity, attribute, mode, learned))
    return mappings, plain, list(dict.fromkeys(adhoc))

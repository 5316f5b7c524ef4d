"""Several Exist accounts in one bridge (``exist.accounts``): what each account has of its own.

One broker session, one state directory and one outbox serve every account (so a message that
feeds mappings of two accounts is committed, and acknowledged, once). Each account has its own:
- outbox rows (``totals.account``), sent by its own ``Flusher`` through its own client, budget,
  token and attribute manager (``state_dir/accounts/<name>/`` holds its budget and attributes);
- time zone (its ``timezone``, remembered from its profile, else the default account's);
- per-topic mapping states (``Mapping.state_id`` names a named account);
- status: pending rows, the budget left, whether Exist refuses its token, the last flush.

The single-account form (no ``exist.accounts``) is the account ``''`` and keeps every file and
key where earlier versions had them. When a configuration first lists accounts, the single
account's state (its totals, topic states, remembered time zone and files) is adopted by the
first account, in one log line (``adopt_single_account``): its mappings are the ones that had
no account before. Totals of an account the configuration no longer lists are kept, and named
at start (``warn_unlisted``), until it lists that account again.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from pathlib import Path

from .config.model import SINGLE_ACCOUNT, AccountSettings, BridgeConfig
from .observe.state import AccountInfo
from .pipeline.buffer.outbox import Outbox
from .pipeline.buffer.rules import meta_key
from .pipeline.output.exist_output import ExistService, make_client
from .pipeline.output.flusher import POSTPONED_META, Flusher, FlushReport
from .pipeline.process.mapping import Mapping
from .state_dir import ATTRIBUTES_FILE, BACKFILL_FILE, BUDGET_FILE, account_dir

log = logging.getLogger("exist_bridge")

ACCOUNT_META = ("timezone", "last_day", POSTPONED_META)  # meta kept per account


@dataclass
class Account:
    """One Exist account of the running bridge."""

    settings: AccountSettings
    exist: ExistService
    zone: str = ""
    flusher: Flusher | None = None
    last_report: FlushReport | None = None
    token_refused: str | None = None  # why Exist refuses its token, while it does

    @property
    def name(self) -> str:
        return self.settings.name

    def said(self, text: str) -> str:
        """``text`` for a log line, naming the account when there are named ones."""
        return f"account {self.name}: {text}" if self.name else text


def make_accounts(
    config: BridgeConfig,
    state_dir: Path,
    exist: ExistService | MappingOf[str, ExistService] | None = None,
) -> dict[str, Account]:
    """Each configured account with its Exist service: a client, or a test's stand-in
    (``exist``: one for the first account, or one per account name)."""
    given: MappingOf[str, ExistService] = {}
    if isinstance(exist, MappingOf):
        given = exist
    elif exist is not None:
        given = {config.accounts[0].name: exist}
    return {
        a.name: Account(a, given.get(a.name) or make_client(config, state_dir, account=a.name))
        for a in config.accounts
    }


def accounts_text(accounts: Iterable[Account]) -> str:
    """``; accounts alice (Europe/London), bob (UTC)`` for the start line when the accounts
    are named, else nothing."""
    named = [a for a in accounts if a.name]
    if not named:
        return ""
    return "; accounts " + ", ".join(f"{a.name} ({a.zone})" if a.zone else a.name for a in named)


def account_status(accounts: Iterable[Account], pending: MappingOf[str, int]) -> dict:
    """The status topic's ``accounts``: each one's pending rows (from ``pending``, per account),
    budget left and allowed, and why Exist refuses its token (None while it takes it)."""
    return {
        a.name: {
            "pending_rows": pending.get(a.name, 0),
            "budget_left": a.exist.budget_left(),
            "budget_allowed": a.settings.requests_per_hour,
            "token_refused": a.token_refused,
        }
        for a in accounts
    }


def account_info(account: Account, mappings: Iterable[Mapping]) -> AccountInfo:
    """What the HTTP endpoint shows of one named account."""
    report = account.last_report
    return AccountInfo(
        name=account.name,
        mappings=tuple(m.index for m in mappings if m.spec.account == account.name),
        budget_left=account.exist.budget_left(),
        budget_allowed=account.settings.requests_per_hour,
        flush_problem=report.postponed.reason if report and report.postponed else None,
        token_refused=account.token_refused,
    )


def _single_state_id(mapping: Mapping) -> str:
    """What ``mapping``'s state id was before it named an account (the last element of its
    JSON list), with the same ``#n`` suffix."""
    end = mapping.state_id.rindex("]") + 1
    reads = json.loads(mapping.state_id[:end])
    return json.dumps(reads[:-1], ensure_ascii=False) + mapping.state_id[end:]


def adopt_single_account(
    outbox: Outbox, state_dir: Path, config: BridgeConfig, mappings: list[Mapping]
) -> None:
    """The first of ``exist.accounts`` takes over what the single account left (totals not yet
    sent or sent, backfilled days, per-topic states, meta, budget and attribute files), once."""
    first = config.accounts[0].name
    if first == SINGLE_ACCOUNT:
        return
    states = outbox.edge_states()
    renamed: dict[str, str] = {}
    for mapping in mappings:
        if mapping.spec.account != first or not mapping.uses_state:
            continue
        old = _single_state_id(mapping)
        for key in states:
            if key.startswith(old + " "):
                renamed[key] = mapping.state_id + key[len(old) :]
    rows = outbox.adopt_rows(SINGLE_ACCOUNT, first)
    if renamed:
        outbox.rekey_states(renamed, [])
    for key in ACCOUNT_META:
        value = outbox.get_meta(key)
        if value is not None and outbox.get_meta(meta_key(key, first)) is None:
            outbox.set_meta(meta_key(key, first), value)
    files = _copy_files(state_dir, first)
    if rows or renamed or files:
        log.info(
            "accounts: what the bridge kept before exist.accounts (%d total(s), %d topic "
            "state(s)%s) now belongs to account %s, the first in exist.accounts",
            rows,
            len(renamed),
            f", {', '.join(files)}" if files else "",
            first,
        )


def _copy_files(state_dir: Path, account: str) -> list[str]:
    """Copy the single account's budget, attribute and backfill progress files to
    ``account``'s folder, where it has none yet; the names copied."""
    copied = []
    target = account_dir(state_dir, account)
    for name in (BUDGET_FILE, ATTRIBUTES_FILE, BACKFILL_FILE):
        source = state_dir / name
        if source.is_file() and not (target / name).exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
            copied.append(name)
    return copied


def warn_unlisted(outbox: Outbox, config: BridgeConfig) -> None:
    """Name the accounts whose totals wait in the outbox though the configuration doesn't list
    them (kept, never sent elsewhere, until it lists them again)."""
    listed = {a.name for a in config.accounts}
    waiting = {
        account: n for account, n in outbox.pending_by_account().items() if account not in listed
    }
    heir = config.accounts[0].name
    for account, n in sorted(waiting.items()):
        if not account and heir:  # what adopt_single_account could not give the first account
            log.warning(
                "%d total(s) of the single account of an earlier exist.token wait in the "
                "outbox: account %s has totals of the same days they can't be added to (partly "
                "sent already, or of another mode); they are kept and sent once the "
                "configuration has that exist.token again",
                n,
                heir,
            )
            continue
        log.warning(  # (the single account's are never unlisted here: listed, or adopted)
            "%d total(s) wait in the outbox for account %r, which the configuration doesn't "
            "list: they are kept and sent once exist.accounts lists %r again",
            n,
            account,
            account,
        )

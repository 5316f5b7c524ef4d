"""``exist-bridge check --online``: try the broker and Exist with the configuration; no writes.

- The broker: the bridge's own ``BrokerLink`` (same TLS and login code) connects with its own
  client id (``<client_id>-check-<pid>``) and a clean session, subscribes to nothing, announces
  nothing, and disconnects; the answer is "login accepted" or the reason (refused, DNS, TLS, login).
- Exist, for each account (``exist.accounts``; its lines start ``account NAME:``): the profile
  (does the token work? the timezone) and, for each attribute its mappings write, whether
  this client owns it already, whether the account has it (owned by another service, or manual),
  or whether the bridge would create it. Only reads (a few requests of the hour's budget, counted
  in memory, not in the state directory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..config import BridgeConfig
from ..config.model import AccountSettings
from ..exist.client import ExistClient
from ..exist.domain import TEMPLATES
from ..exist.errors import ExistError, PermissionDenied
from ..exist.tokens import load_credentials
from ..pipeline.input.mqtt import BrokerLink
from ..pipeline.output.exist_output import token_refused

BROKER_TIMEOUT = 10.0


@dataclass
class Report:
    """Lines to print and the problems among them."""

    lines: list[str] = field(default_factory=list)
    problems: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(text)

    def problem(self, text: str) -> None:
        self.lines.append(f"problem: {text}")
        self.problems += 1

    def show(self, say: Callable[[str], None]) -> int:
        """Print the lines and the count; the exit status (1 if any problem)."""
        for line in self.lines:
            say(line)
        say(f"online: {self.problems} problem(s)")
        return 1 if self.problems else 0


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The link's own error lines would repeat what the report says."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_broker(config: BridgeConfig, report: Report, timeout: float = BROKER_TIMEOUT) -> None:
    """Connect once with the configuration's settings and say whether the login works."""
    m = config.mqtt
    settings = dataclasses.replace(
        m,
        client_id=f"{m.client_id}-check-{os.getpid()}",
        persistent_session=False,
        discovery=False,
    )
    where = f"broker {m.host}:{m.port}"
    with _quiet("exist_bridge.mqtt"):
        try:
            link = BrokerLink(settings, [], None, None, announce=False)
        except (OSError, ValueError) as err:  # a TLS file that can't be loaded
            report.problem(f"{where}: {err}")
            return
        link.start()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if link.connected or link.link_status()["last_error"]:
                    break
                time.sleep(0.05)
        finally:
            link.stop()
    error = link.link_status()["last_error"]
    if link.connects:
        user = f" (mqtt.username {m.username!r})" if m.username else " (anonymous)"
        report.ok(f"{where}: connected, login accepted{user}")
    elif error:
        report.problem(f"{where}: {error}")
    else:
        report.problem(f"{where}: no answer within {timeout:.0f}s; check mqtt.host and mqtt.port")


def check_exist(config: BridgeConfig, report: Report) -> None:
    """Each account's token (profile) and what its Exist account says about each attribute
    its mappings write; with ``exist.accounts``, each line names the account, and two tokens
    of one Exist user are a problem (both accounts would write to that user's account)."""
    users: dict[str, str] = {}  # Exist username -> the first account whose token is theirs
    for index, account in enumerate(config.accounts):
        user = _check_account(config, index, account, report)
        if user is None:
            continue
        first = users.setdefault(user, account.name)
        if first != account.name:
            report.problem(
                f"account {account.name}: the token is Exist user {user!r}'s, as account "
                f"{first}'s is: both would write to that one Exist account; give "
                f"exist.accounts[{index}] {account.name}'s own token"
            )


def _check_account(
    config: BridgeConfig, index: int, account: AccountSettings, report: Report
) -> str | None:
    """Check one account; the Exist username its token is for (None if unknown)."""
    e = config.exist
    where = f"Exist {e.base_url}"
    said = f"account {account.name}: " if account.name else ""
    keys = f"exist.accounts[{index}]" if account.name else "exist"
    try:
        credentials = load_credentials(
            token=account.token.reveal() if account.token else None,
            token_file=account.token_file,
            client_id=e.client_id,
            client_secret=e.client_secret.reveal() if e.client_secret else None,
        )
    except (ExistError, OSError, ValueError) as err:
        report.problem(f"{said}{where}: {err}")
        return None
    client = ExistClient(
        credentials, base_url=e.base_url, timeout=(5.0, float(e.timeout)), max_attempts=1
    )
    user = None
    try:
        try:
            profile = client.profile()
        except ExistError as err:
            key = f"{keys}.token" if account.token else f"{keys}.token_file {account.token_file}"
            refused = token_refused(err, key)
            if isinstance(err, PermissionDenied) and not account.timezone:
                report.problem(
                    f"{said}{where}: can't read the profile ({err}); set {keys}.timezone"
                )
            elif refused or not isinstance(err, PermissionDenied):
                report.problem(f"{said}{where}: {refused or err}")
                return None
        else:
            user = profile.username or None
            zone = profile.timezone or "unknown"
            note = (
                ""
                if not account.timezone or account.timezone == zone
                else (f"; the config's {keys}.timezone {account.timezone} is used instead")
            )
            report.ok(
                f"{said}{where}: the token works (user {profile.username!r}, timezone {zone}{note})"
            )
        _check_attributes(config, account.name, client, report)
    finally:
        client.close()
    return user


def _check_attributes(
    config: BridgeConfig, account: str, client: ExistClient, report: Report
) -> None:
    said = f"account {account}: " if account else ""
    names = list(dict.fromkeys(m.attribute for m in config.mappings_of(account)))
    declared = {a.name: a for a in config.attributes}
    try:
        owned = {a.name for a in client.owned_attributes(attributes=names, include_inactive=True)}
    except ExistError as err:
        report.problem(f"{said}can't list the attributes this client owns: {err}")
        return
    try:
        existing = {a.name: a for a in client.attributes_with_values(attributes=names)}
    except PermissionDenied:
        existing = None  # no read scope: only what this client owns is known
    except ExistError as err:
        report.problem(f"{said}can't list the account's attributes: {err}")
        return
    for name in names:
        spec = declared.get(name)
        head = f"  {said}{name}"
        if name in owned:
            report.ok(f"{head}: owned by this client; the bridge can write it")
        elif existing is not None and name in existing:
            other = existing[name].service or "the user (manual)"
            if spec is None:
                report.problem(
                    f"{head}: owned by {other}, not this client, and not listed under "
                    "attributes: writes are refused until it is acquired (list it)"
                )
            else:
                report.ok(f"{head}: owned by {other}; the bridge acquires it at start")
        elif spec is not None and spec.template is not None:
            report.ok(f"{head}: not in the account yet; acquired from Exist's template at start")
        elif spec is not None:
            report.ok(f"{head}: not in the account yet; created at start (label {spec.label!r})")
        elif existing is None:
            report.ok(
                f"{head}: not owned by this client (the token can't read the account to say more)"
            )
        else:
            hint = " (an Exist template: list it under attributes)" if name in TEMPLATES else ""
            report.problem(
                f"{head}: no such attribute in the account, and not listed under "
                f"attributes: Exist answers not_found{hint}"
            )


def check_online(config: BridgeConfig) -> Report:
    """Both checks; nothing is written (no state directory, no Exist write)."""
    report = Report()
    check_broker(config, report)
    check_exist(config, report)
    return report

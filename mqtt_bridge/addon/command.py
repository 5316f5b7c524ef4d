"""``exist-bridge addon``: what the Home Assistant add-on's container runs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli_options import BASE_URL_FLAG, add_old_name, add_verbose
from .glue import (
    HTTP_PORT,
    AddonError,
    AddonPaths,
    build_config,
    mappings_path,
    read_options,
)
from .options import SettingsError

if TYPE_CHECKING:
    from ..backfill.panel import BackfillPanel
    from ..config import BridgeConfig

log = logging.getLogger("exist_bridge.addon")


def add_addon(sub: argparse._SubParsersAction) -> None:
    """Register the ``addon`` subcommand."""
    defaults = AddonPaths()
    p = sub.add_parser(
        "addon",
        help="run as the Home Assistant add-on (reads /data/options.json)",
        description="Run the bridge inside the Home Assistant add-on: options from "
        "/data/options.json, the MQTT broker from the Supervisor's MQTT service "
        "(http://supervisor/services/mqtt with $SUPERVISOR_TOKEN) unless mqtt_host is set, state "
        "in /data, attributes and mappings from a YAML file in the add-on's config folder (a "
        "commented starter is written there on first start), the HTTP endpoint (health, "
        "metrics, status page for ingress) on port 8099. The flags change those places (tests).",
    )
    places = [  # flag, type, default, metavar, what it is
        ("--options", Path, defaults.options, "FILE", "the add-on's options, as Home Assistant "
         "writes them"),
        ("--data-dir", Path, defaults.data_dir, "DIR", "the state directory"),
        ("--config-dir", Path, defaults.config_dir, "DIR", "where the mappings file is"),
        ("--supervisor-url", str, defaults.supervisor_url, "URL", "the Supervisor API, its "
         "token from $SUPERVISOR_TOKEN"),
        ("--http-host", str, defaults.http_host, "HOST", "where the HTTP endpoint (health, "
         "metrics, status page) listens"),
        ("--http-port", int, HTTP_PORT, "PORT", "the HTTP endpoint's port, the one ingress uses"),
    ]  # fmt: skip
    for flag, kind, default, metavar, what in places:
        p.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{what} (default: %(default)s)"
        )
    p.add_argument(
        BASE_URL_FLAG,
        dest="exist_base_url",
        default=None,
        metavar="URL",
        help="another Exist server, e.g. a mock-exist: exist.base_url (default: "
        "$EXIST_BASE_URL, else https://exist.io)",
    )
    add_old_name(p, "--exist-url", BASE_URL_FLAG, "exist_base_url")
    p.add_argument(
        "--home-assistant-url",
        default=None,
        metavar="URL",
        help="Home Assistant's API for the backfill panel (default: the Supervisor's proxy, "
        "SUPERVISOR_URL/core)",
    )
    p.add_argument(
        "--home-assistant-websocket",
        default=None,
        metavar="URL",
        help="Home Assistant's websocket API for the backfill panel (default: "
        "ws://SUPERVISOR/core/websocket)",
    )
    p.add_argument(
        "--ingress-peer",
        default=defaults.ingress_peer,
        metavar="ADDRESS",
        help="the only address the backfill panel answers (default: %(default)s, the "
        "Supervisor's ingress proxy)",
    )
    add_verbose(p)
    p.set_defaults(handler=cmd_addon)


def cmd_addon(args: argparse.Namespace, out: Any) -> int:
    """Build the configuration from the add-on's world, then run the bridge."""
    from ..config import ConfigError
    from ..pipeline.buffer.integrity import OutboxLost
    from ..pipeline.buffer.outbox import OutboxError
    from ..service import run as run_service
    from ..state_dir import StateDirInUse

    paths = AddonPaths(
        options=args.options,
        data_dir=args.data_dir,
        config_dir=args.config_dir,
        supervisor_url=args.supervisor_url,
        http_host=args.http_host,
        http_port=args.http_port,
        exist_base_url=args.exist_base_url,
        home_assistant_url=args.home_assistant_url,
        home_assistant_websocket=args.home_assistant_websocket,
        ingress_peer=args.ingress_peer,
    )
    try:
        options = read_options(paths.options)
        config = build_config(options, paths)
    except SettingsError as err:
        for line in err.options:
            out.error(line)
        if err.file is not None:
            _mappings_file_problems(err.file, out)
        return 1
    except AddonError as err:
        out.error(str(err))
        return 1
    except ConfigError as err:
        _mappings_file_problems(err, out)
        return 1
    if not args.verbose:
        logging.getLogger().setLevel(config.bridge.log_level)
    for warning in config.warnings:
        log.warning("config: %s", warning)
    try:
        return run_service(
            config,
            accept_fresh_outbox=bool(options.get("accept_fresh_outbox")),
            panel=_backfill_panel(config, paths),
            reload=lambda: _reload_config(paths),
            watch=[mappings_path(options, paths)] if options.get("watch_config") else (),
        )
    except OutboxLost as err:
        out.error(
            f"{err} (in the add-on: turn on accept_fresh_outbox in its Configuration tab, start "
            "it once, then turn the option off again)"
        )
        return 1
    except (OutboxError, StateDirInUse) as err:
        out.error(str(err))
        return 1


def _reload_config(paths: AddonPaths) -> BridgeConfig:
    """The configuration from the options and the mappings file, read again (SIGHUP): their
    problems as one error, a line each."""
    try:
        return build_config(read_options(paths.options), paths)
    except SettingsError as err:
        lines = [*err.options, *(str(err.file).splitlines() if err.file is not None else [])]
        raise ValueError("\n".join(lines)) from None


def _backfill_panel(config: BridgeConfig, paths: AddonPaths) -> BackfillPanel | None:
    """The backfill panel, reaching Home Assistant with the Supervisor's token (none without
    one: the add-on then runs without the panel)."""
    from ..backfill.panel import BackfillPanel, HomeAssistantAccess

    if not paths.supervisor_token:
        log.warning("no SUPERVISOR_TOKEN: the backfill panel is off")
        return None
    url, websocket = paths.home_assistant()
    access = HomeAssistantAccess(url, websocket, paths.supervisor_token)
    return BackfillPanel(config, access, frozenset({paths.ingress_peer}))


def _mappings_file_problems(err: Any, out: Any) -> None:
    """Report a ``ConfigError`` in the user's mappings file (its own line numbers)."""
    out.error(
        f"{err.source}: {len(err.problems)} problem(s) in the mappings file (edit it in the "
        "add-on's folder under /addon_configs, then restart the add-on)"
    )
    out.stderr.write(str(err) + "\n")

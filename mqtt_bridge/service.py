"""``exist-bridge run``: wire the broker link, the ingest writer, the outbox and the flusher.

Start-up order, so the bridge starts even when the broker or Exist is down:
1. check the outbox: a missing (while ``outbox.marker`` or the bridge's files say there was one),
   truncated or damaged outbox, or one whose write-ahead log is gone or that is older than the
   last run (``integrity.inspect_outbox``), stops the start with a clear error and exit 1, unless
   ``accept_fresh_outbox``
   (``run --accept-fresh-outbox``) sets the old file aside and starts a fresh one; then open it
   (a clear error and exit 1 if the state directory can't be used);
2. learn the user's timezone: the config's, else the one remembered from a previous run, else the
   Exist profile (retried with backoff; MQTT messages wait in the broker meanwhile, unacked);
3. number the run and mark it running (``integrity.begin_run``; a clean stop marks it stopped),
   connect to the broker in the background (paho retries) and start taking messages in;
4. acquire/create the configured attributes (retried until Exist answers), then flush by
   deadline (``bridge.event_delay``, ``bridge.total_delay``, ``mappings[].max_delay``; see
   ``pipeline.output.flusher``).
SIGTERM/SIGINT: stop taking messages, commit what was received, send what the budget allows,
publish "offline", exit 0 - within ``bridge.stop_timeout`` (what is unsent stays in the outbox).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingOf
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from . import backoff, heartbeat, observe, timezones
from .accounts import (
    Account,
    account_info,
    account_status,
    accounts_text,
    adopt_single_account,
    make_accounts,
    warn_unlisted,
)
from .backoff import LOOP_RESTART
from .config import BridgeConfig
from .exist.errors import ConnectionFailed
from .exist.version import __version__
from .observe import LiveState, MappingInfo, Tally
from .observe.state import count_requests
from .pipeline.buffer.integrity import (
    OutboxLost,
    begin_run,
    end_run,
    inspect_outbox,
    lost_message,
    start_afresh,
    write_marker,
)
from .pipeline.buffer.outbox import Outbox, OutboxError
from .pipeline.buffer.refused import warn_refused_unused
from .pipeline.buffer.writer import CommitWriter
from .pipeline.input.mqtt import BrokerLink
from .pipeline.mirror.refresher import DiscoveryTarget, Refresher
from .pipeline.output.exist_output import ExistService
from .pipeline.output.flusher import Flusher, FlushReport, PostponeKind
from .pipeline.process.mapping import Mapping, build_mappings
from .pipeline.process.processor import STATUS_HINT, MessageProcessor
from .reloading import Reloader
from .state_dir import MARKER_FILE, OUTBOX_FILE, READ_FILE, lock_state_dir
from .timezones import StartCancelled
from .watching import FileWatch

if TYPE_CHECKING:
    from .backfill.panel import BackfillPanel

log = logging.getLogger("exist_bridge")


class Bridge:
    """One running bridge. ``start()`` returns once everything is running; ``stop()`` ends it."""

    def __init__(
        self,
        config: BridgeConfig,
        exist: ExistService | MappingOf[str, ExistService] | None = None,
        clock: Callable[[], float] = time.time,
        accept_fresh_outbox: bool = False,
    ):
        """``exist``: what to talk to instead of Exist through the client (a test's stand-in;
        with several accounts, one per account name)."""
        self.config = config
        self.clock = clock
        self.state_dir = Path(config.bridge.state_dir)
        path = self.state_dir / OUTBOX_FILE
        problem = inspect_outbox(path)  # first: never start afresh over lost state unasked
        if problem and not accept_fresh_outbox:
            raise OutboxLost(lost_message(problem))
        with contextlib.ExitStack() as undo:  # what is open is closed again if the start fails
            if problem:  # the lock first: never move a running bridge's file
                self._lock = undo.enter_context(lock_state_dir(self.state_dir))
                start_afresh(path, problem)
            self.outbox = Outbox(path)  # a clear error if the state directory is unusable
            undo.callback(self.outbox.close)
            if not problem:
                self._lock = undo.enter_context(lock_state_dir(self.state_dir))
            try:  # a fresh outbox starts the run numbers afresh (see integrity.begin_run)
                write_marker(path, ("stopped", 0) if problem else None)
            except OSError as err:  # a full disk: the outbox itself still works; next start
                log.warning("can't write %s beside the outbox (%s)", MARKER_FILE, err)
            self.accounts = make_accounts(config, self.state_dir, exist)
            self.exist = self.default.exist  # the default (first) account's
            self.mappings = self.mappings_for(config)
            adopt_single_account(self.outbox, self.state_dir, config, self.mappings)
            undo.pop_all()  # the bridge's from now on: stop() closes them
        self.stopping = threading.Event()
        self.ready = threading.Event()  # set once messages are being taken in
        self.cancel_start = threading.Event()  # a signal during start-up: stop waiting
        self.link: BrokerLink | None = None
        self.writer: CommitWriter | None = None
        self.processor: MessageProcessor | None = None
        self.mirror: Refresher | None = None  # the Exist mirror (``read:``), when configured
        self.bad_input_hint = STATUS_HINT  # where a warning about bad input sends the reader
        self.run_number = 0  # this run's number once started (see integrity.begin_run)
        self._threads: list[threading.Thread] = []
        self._mirror_thread: threading.Thread | None = None  # reads only: never holds up a stop
        self._status_lock = threading.Lock()
        self.config_lock = threading.Lock()  # held while the mappings are rebuilt or reloaded
        self.reloader: Reloader | None = None  # SIGHUP's (``run``)
        self.last_reload: dict | None = None  # the outcome of the last reload, for ``status``
        self.tally = Tally()  # messages per mapping, requests to Exist: the HTTP endpoint's
        for account in self.accounts.values():
            count_requests(account.exist, self.tally, account.name)

    @property
    def default(self) -> Account:
        """The default account: the first (mappings without ``account`` write to it)."""
        return next(iter(self.accounts.values()))

    @property
    def flusher(self) -> Flusher | None:
        """The default account's flusher (once started)."""
        return self.default.flusher

    @property
    def last_report(self) -> FlushReport | None:
        """The default account's last flush."""
        return self.default.last_report

    @property
    def token_refused(self) -> str | None:
        """Why Exist refuses a token, while it does (each account that it refuses, named)."""
        said = [a.said(a.token_refused) for a in self.accounts.values() if a.token_refused]
        return "; ".join(said) if said else None

    def mappings_for(self, config: BridgeConfig) -> list[Mapping]:
        """``config``'s mappings with the value types each account's Exist reported."""
        types = {name: a.exist.value_type for name, a in self.accounts.items()}
        return build_mappings(config, self.exist.value_type, by_account=types)

    # ----------------------------------------------------------------- start-up

    def timezone(self, account: Account | None = None, fallback: str | None = None) -> str:
        """``account``'s (default: the default account's) timezone: the config's, the one
        remembered, or the profile's (waits for Exist; with ``fallback``, a failed read uses
        it instead of waiting). See ``timezones.learn``."""
        return timezones.learn(self, account or self.default, fallback)

    def start_deadline(self) -> None:
        """A stop was asked during start-up: no request to Exist runs past stop_timeout."""
        for account in self.accounts.values():
            account.exist.set_deadline(time.monotonic() + float(self.config.bridge.stop_timeout))

    def unreachable(self, err: Exception) -> str:
        """``err`` as text; when Exist could not be reached at all (DNS, refused, timeout),
        naming the key to check: exist.base_url."""
        if isinstance(err, ConnectionFailed):
            url = self.config.exist.base_url
            return f"{err}; Exist can't be reached: check exist.base_url {url}"
        return str(err)

    def start(self) -> None:
        zone = self.default.zone = self.timezone()
        for account in list(self.accounts.values())[1:]:
            account.zone = self.timezone(account, fallback=zone)
        log.info(
            "exist-bridge %s: user timezone %s, %d mapping(s), state in %s%s",
            __version__,
            zone,
            len(self.mappings),
            self.state_dir,
            accounts_text(self.accounts.values()),
        )
        warn_refused_unused(self.outbox, {m.spec.attribute for m in self.mappings})
        warn_unlisted(self.outbox, self.config)
        try:  # before any message is taken in: a kill -9 from now on leaves the log to keep
            self.run_number = begin_run(self.outbox)
        except OSError as err:
            log.warning("can't write %s beside the outbox (%s)", MARKER_FILE, err)
        writer_box = Outbox(self.state_dir / OUTBOX_FILE)
        processor = self.processor = MessageProcessor(
            self.mappings,
            zone,
            writer_box,
            observer=self.tally.message,
            zones={a.name: a.zone for a in self.accounts.values()},
        )
        processor.once.hint = self.bad_input_hint
        self.writer = CommitWriter(writer_box, ack=self._ack, on_commit=self._committed)
        self.link = BrokerLink(
            self.config.mqtt,
            [m.spec.topic for m in self.mappings],
            processor,
            self.writer,
            version=__version__,
            clock=self.clock,
            status_stale_after=max(900.0, 3 * self.config.longest_delay),  # flushes' spacing
            prefix_key=self.config.name_of("mqtt.topic_prefix"),
            accounts=[a.name for a in self.accounts.values() if a.name],
        )
        self.link.status_source = self.status
        self.writer.start()
        self.link.start()
        self.ready.set()
        for account in self.accounts.values():
            self._start_flusher(account)
        reader = self.accounts.get(self.config.read.account)
        if self.config.read.enabled and reader is not None and reader.flusher is not None:
            self._start_mirror(reader, reader.flusher)

    def _start_flusher(self, account: Account) -> None:
        """``account``'s flusher, in its own thread, on its own rows of the outbox."""
        account.flusher = Flusher(
            Outbox(self.state_dir / OUTBOX_FILE, account=account.name),
            account.exist,
            account.zone,
            account.exist.classify,
            on_flush=lambda report: self._flushed(account, report),
            clock=self.clock,
            retry=self.config.retry_delay,
            longest=self.config.longest_delay,
        )
        name = f"exist-bridge-flusher-{account.name}" if account.name else "exist-bridge-flusher"
        thread = threading.Thread(target=self._exist_loop, args=(account,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_mirror(self, account: Account, flusher: Flusher) -> None:
        """The Exist mirror (``read:``) in its own thread, through ``account``'s write side's
        client."""
        client = getattr(account.exist, "client", None)
        if client is None or self.link is None:
            log.warning("read: this Exist stand-in can't be read; the mirror is off")
            return
        # the mirror thread's own connection
        link, box = self.link, Outbox(self.state_dir / OUTBOX_FILE, account=account.name)
        target = None
        if self.config.mqtt.discovery:
            target = DiscoveryTarget(
                self.config.mqtt.discovery_prefix,
                link.node_id,
                __version__,
                link.availability_topic,
            )
        self.mirror = mirror = Refresher(
            self.config.read,
            client,
            link.publish_retained,
            account.zone,
            write_due=lambda: flusher.next_due(box),
            discovery_target=target,
            status_path=self.state_dir / READ_FILE,
            clock=self.clock,
        )
        link.connect_hook = mirror.republish
        self._mirror_thread = mirror.start(self.stopping)

    def _ack(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge committed messages to the broker (the writer's ``ack``)."""
        if self.link is None:  # never: the link exists before the writer starts
            raise RuntimeError("acknowledging before the broker link exists")
        self.link.ack_many(acks)

    def _committed(self, due: float | None) -> None:
        """After each commit: wake the flushers whose earliest deadline moved forward."""
        for account in self.accounts.values():
            if account.flusher is not None:
                account.flusher.notify(due)

    def _exist_loop(self, account: Account) -> None:
        """Set up ``account``'s attributes (retried until Exist answers), then flush until
        stopped. Never ends by an exception: a dead flusher would leave totals waiting for
        ever."""
        while not self.stopping.is_set():
            try:
                self._set_up_then_flush(account)
                return
            except Exception:
                log.exception(
                    "%s",
                    account.said(f"the Exist loop failed; restarting it in {LOOP_RESTART:.0f}s"),
                )
                self.stopping.wait(LOOP_RESTART)

    def _set_up_then_flush(self, account: Account) -> None:
        retry = backoff.attribute_set_up()
        while not self.stopping.is_set():
            try:
                account.exist.bootstrap()
                self.refresh_mappings()
                self.note_token(account, None)
                break
            except Exception as err:  # noqa: BLE001 - keep trying until Exist answers
                refused, delay = account.exist.token_refused(err), retry.next()
                if refused:
                    self.note_token(account, refused)
                    log.error("%s; retrying in %.0fs", account.said(refused), delay)
                else:
                    log.warning(
                        "%s",
                        account.said(
                            f"attribute set-up with Exist failed ({self.unreachable(err)}); "
                            f"retrying in {delay:.0f}s"
                        ),
                    )
                if self.stopping.wait(delay):
                    return
        if account.flusher is not None:
            account.flusher.run(self.stopping)

    def refresh_mappings(self) -> None:
        """Rebuild the mappings with the value types Exist reported (after bootstrap)."""
        with self.config_lock:
            self.mappings = self.mappings_for(self.config)
            if self.processor is not None:  # the same state keys: no state forgotten
                self.processor.mappings = self.mappings  # one reference swap: atomic

    def note_token(self, account: Account, refused: str | None) -> None:
        """Remember whether Exist refuses ``account``'s token (None: it took it), for
        ``status``, ``/healthz`` and the status page; the heartbeat says it at once."""
        if refused != account.token_refused:
            account.token_refused = refused
            self.write_health()

    def _flushed(self, account: Account, report: FlushReport) -> None:
        account.last_report = report
        if (
            self.mirror is not None
            and report.sent_items
            and account.name == self.config.read.account
        ):
            # what Exist confirmed, under the names Exist gave (a custom label may slug
            # differently): mirrored without a read
            manager = getattr(account.exist, "manager", None)
            rename = manager.server_name if manager is not None else str
            self.mirror.confirmed([(rename(a), d, v) for a, d, v in report.sent_items])
        if report.postponed and report.postponed.kind is PostponeKind.AUTHENTICATION:
            self.note_token(account, report.postponed.reason)
        elif report.requests:
            self.note_token(account, None)
        if report.requests:
            log.info(
                "%sflush: %d request(s), %d total(s) sent%s, %d base(s) learned, %d pending",
                f"account {account.name}: " if account.name else "",
                report.requests,
                report.sent,
                f" ({report.sent_text()})" if report.sent_items else "",
                report.bases_learned,
                report.left_pending,
            )
        if self.link is not None:
            self.link.publish_status(self.status())

    def write_health(self, stopped: bool = False, connected: bool | None = None) -> None:
        """Record that this process is alive and whether the broker link is up (a heartbeat for
        health checks; wall-clock time; see ``heartbeat``). A failed write (disk full) is
        logged, never raised."""
        link = self.link.link_status() if self.link is not None else None
        if connected is None:
            connected = bool(self.link and self.link.connected)
        refused = {a.name: a.token_refused for a in self.accounts.values() if a.name}
        record = heartbeat.record(
            connected, stopped, self.token_refused, self.last_reload, link, refused
        )
        heartbeat.write(self.state_dir, record)

    def status(self) -> dict:
        """The retained status topic's JSON (also read by Home Assistant's entities)."""
        with self._status_lock:  # the flusher and the network thread (on connect) both ask
            st = self.outbox.status()
        by_account = st.pop("pending_by_account", {})
        if self.default.name:  # each named account's pending rows, budget and token
            st["accounts"] = account_status(self.accounts.values(), by_account)
            st["budget_left"] = st["accounts"][self.default.name]["budget_left"]  # read once
        else:
            st["budget_left"] = self.exist.budget_left()
        st["connected"] = bool(self.link and self.link.connected)
        st["client_id"] = self.config.mqtt.client_id  # tells a shared topic_prefix apart
        st["published_at"] = time.time()  # a retained status this old is a dead bridge's
        st["client_id_clash"] = bool(self.link and self.link.clash.active)
        if self.mirror is not None:
            st["read"] = self.mirror.status()
        last = st.get("last_sync")
        st["last_sync_iso"] = (
            datetime.fromtimestamp(last, timezone.utc).isoformat(timespec="seconds")
            if last
            else None
        )
        return st

    def live(self) -> LiveState:
        """What the HTTP endpoint shows of this bridge (``observe.BridgeView``)."""
        phase = "running" if self.ready.is_set() else "starting"
        report = self.last_report
        named = [account_info(a, self.mappings) for a in self.accounts.values() if a.name]
        return LiveState(
            version=__version__,
            phase="stopping" if self.stopping.is_set() else phase,
            broker=f"{self.config.mqtt.host}:{self.config.mqtt.port}",
            broker_connected=bool(self.link and self.link.connected),
            outbox_path=self.state_dir / OUTBOX_FILE,
            mappings=tuple(
                MappingInfo(m.index, m.spec.topic, m.spec.attribute, m.spec.mode, m.spec.account)
                for m in self.mappings
            ),
            budget_left=named[0].budget_left if named else self.exist.budget_left(),
            budget_allowed=self.default.settings.requests_per_hour,
            flush_problem=report.postponed.reason if report and report.postponed else None,
            token_refused=self.token_refused,
            dead_threads=self._dead_threads(),
            read=self.mirror.status() if self.mirror is not None else None,
            accounts=tuple(named),
        )

    def _dead_threads(self) -> tuple[str, ...]:
        """The names of the threads that were started and have ended (``/livez``)."""
        threads = list(self._threads)
        if self._mirror_thread is not None:
            threads.append(self._mirror_thread)
        if self.writer is not None and self.writer.ident is not None:
            threads.append(self.writer)
        loop = getattr(getattr(self.link, "client", None), "_thread", None)  # paho's network loop
        if isinstance(loop, threading.Thread):
            threads.append(loop)
        return tuple(t.name for t in threads if not t.is_alive())

    # ----------------------------------------------------------------- shutdown

    def _wake_loops(self) -> None:
        """Wake the flushers and the mirror: they may be asleep until their next turn."""
        for account in self.accounts.values():
            if account.flusher is not None:
                account.flusher.wake()
        if self.mirror is not None:
            self.mirror.wake()

    def _last_flushes(self, deadline: float, busy: bool, limit: float) -> None:
        """At a stop, once the flusher threads ended: each account's last flush, while the
        ``deadline`` (``time.monotonic()``) allows."""
        if busy:
            log.warning(
                "stop deadline (bridge.stop_timeout %.0fs) reached while a request to Exist was "
                "still unanswered; not waiting for it",
                limit,
            )
            return
        for account in self.accounts.values():
            if account.flusher is not None and time.monotonic() < deadline:
                account.flusher.flush_once()

    def stop(self) -> None:
        """Stop taking messages, commit what came in, send what the budget allows - all within
        ``bridge.stop_timeout`` seconds. What Exist has not confirmed by then (it is slow, or
        accepts connections and never answers) stays in the outbox for the next start."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self._wake_loops()
        limit = float(self.config.bridge.stop_timeout)
        deadline = time.monotonic() + limit
        for account in self.accounts.values():  # requests in flight and retries end by then
            account.exist.set_deadline(deadline)
        log.info(
            "stopping (within %.0fs): committing received messages and sending what the "
            "budget allows",
            limit,
        )
        if self.link is not None:
            self.link.stop()
        if self.writer is not None:
            self.writer.stop(timeout=max(1.0, deadline - time.monotonic()))
        if self.processor is not None:
            self.processor.once.summarise()  # bad input not yet summed up in the log
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        busy = any(t.is_alive() for t in self._threads)
        self._last_flushes(deadline, busy, limit)
        try:
            left = len(self.outbox.pending())
        except Exception:  # noqa: BLE001 - a report only
            left = 0
        if left:
            log.warning(
                "%d total(s) not yet sent; they are kept in %s and sent at the next start",
                left,
                self.state_dir / OUTBOX_FILE,
            )
        if self.run_number and not busy:
            try:  # the log checkpointed into the file and the run marked stopped cleanly
                end_run(self.outbox, self.run_number)
            except (OSError, OutboxError) as err:
                log.warning("can't record the clean stop beside the outbox (%s)", err)
        self._lock.close()  # another bridge may use the state directory now
        log.info("stopped")


def run(
    config: BridgeConfig,
    install_signals: bool = True,
    until: Callable[[], bool] | None = None,
    accept_fresh_outbox: bool = False,
    clock: Callable[[], float] = time.time,
    panel: BackfillPanel | None = None,
    reload: Callable[[], BridgeConfig] | None = None,
    watch: Sequence[Path] = (),
) -> int:
    """Run the bridge in the foreground until SIGTERM/SIGINT (or ``until()`` is true); SIGHUP
    reloads the configuration from ``reload()`` (see ``reloading``), when given, as does a change
    of the files in ``watch`` (see ``watching``). ``accept_fresh_outbox``: start afresh when
    the outbox was lost (see ``Bridge``); ``clock``: when a message counts as received (its
    local date); ``panel``: the backfill panel (``backfill.panel.BackfillPanel``) the HTTP
    endpoint serves under ``/backfill/``, stopped with the bridge."""
    done = threading.Event()
    started: list[Bridge] = []

    def on_signal(*_: object) -> None:
        done.set()
        for bridge in started:
            bridge.cancel_start.set()  # if start-up is still waiting for Exist, stop waiting

    if install_signals:  # first, so a signal during start-up still stops cleanly
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
    reloader = Reloader(reload, FileWatch(watch) if watch else None) if reload else None
    if install_signals and reloader is not None:
        signal.signal(signal.SIGHUP, reloader.ask)  # before start-up: one during it waits
    bridge = Bridge(config, clock=clock, accept_fresh_outbox=accept_fresh_outbox)
    bridge.reloader = reloader
    started.append(bridge)
    if done.is_set():
        bridge.cancel_start.set()
    http = config.http
    # observe.HttpEndpoint (waitress, prometheus_client) is imported on first use: only then
    endpoint = (
        observe.HttpEndpoint(bridge, http.host, http.port, panel).start() if http.enabled else None
    )
    try:
        return _serve(bridge, done, until)
    finally:
        if panel is not None:
            panel.close()  # a backfill under way stops after its request
        if endpoint is not None:
            endpoint.stop()


def _serve(bridge: Bridge, done: threading.Event, until: Callable[[], bool] | None) -> int:
    """Start ``bridge``, write its heartbeat (and reload when asked) until ``done`` (or
    ``until()``), then stop it."""
    try:
        bridge.start()
    except StartCancelled:
        log.info("stopped during start-up, before any message was taken in")
        return 0
    except Exception:
        bridge.stop()  # whatever started stops, and the run is recorded as stopped cleanly
        raise
    beat, connected, error_at = 0.0, None, None
    while True:
        # the heartbeat: every HEALTH_INTERVAL, and at once when the broker link goes up or down
        # (or fails again, so `status` shows the latest error)
        now_connected = bool(bridge.link and bridge.link.connected)
        now_error_at = bridge.link.link_status()["last_error_at"] if bridge.link else None
        if (
            now_connected is not connected
            or now_error_at != error_at
            or time.monotonic() - beat >= heartbeat.HEALTH_INTERVAL
        ):
            bridge.write_health(connected=now_connected)
            beat, connected, error_at = time.monotonic(), now_connected, now_error_at
        if bridge.reloader is not None:
            bridge.reloader.apply_if_asked(bridge)
        for account in bridge.accounts.values():
            if account.flusher is not None:
                account.flusher.nudge()  # a clock that jumped (resume from suspend) wakes it
        if bridge.mirror is not None:
            bridge.mirror.nudge()
        if done.wait(0.5) or (until is not None and until()):
            break
    bridge.stop()
    bridge.write_health(stopped=True)
    return 0

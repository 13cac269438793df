"""Config reload (SIGHUP, ``POST /-/reload``), as Prometheus does it: the new file is validated first; a bad one
changes nothing but ``aws_exporter_config_last_reload_successful`` (0), a good one is applied by
:meth:`exporter.app.App.reload` and moves ``..._last_reload_success_timestamp_seconds``.

What a reload cannot change is named, not applied: the ``aws:`` section (the base session, STS, retries and
timeouts, the rate limit, concurrency, the client cache: every cached client and credential hangs on it),
``web:`` (the socket is bound) and ``log:`` (set up once, and the ``--log.*`` flags win) and ``shard:`` (another share would hand accounts to no replica or two
until every replica restarted). Command-line flags stay
as given (``--no-collector.X`` still turns X off).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exporter.app import App, Reloaded
from exporter.config import Config, ConfigError

log = logging.getLogger(__name__)
RESTART_SECTIONS = ("aws", "web", "log", "shard")
DERIVED = {"region_source"}  # where aws.region came from: no setting of its own


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    message: str  # for the HTTP answer: what changed, or every problem of the file


def restart_required(old: Config, new: Config) -> list[str]:
    """The settings ``new`` changes that only a restart applies, by their keys (``aws.read_timeout``,
    ``web.listen_address``)."""
    changed = []
    for section in RESTART_SECTIONS:
        before, after = getattr(old, section), getattr(new, section)
        changed += [f"{section}.{f.name.removesuffix('_seconds')}" for f in dataclasses.fields(before)
                    if f.name not in DERIVED and getattr(before, f.name) != getattr(after, f.name)]
    return changed


class Reloader:
    """Loads the config again and applies it; one reload at a time, from any thread."""

    def __init__(self, app: App, load: Callable[[], Config], select: Callable[[Config], Sequence[str]]):
        """``load()`` reads and validates the file (raises :class:`ConfigError`); ``select(config)`` is the
        collectors to run under it (the config's, with the command line's overrides)."""
        self.app = app
        self.load = load
        self.select = select
        self._lock = threading.Lock()

    def reload(self, trigger: str = "sighup") -> ReloadOutcome:
        with self._lock:
            try:
                config = self.load()
            except ConfigError as exc:
                self.app.reloads.failed()
                log.error("event=config_reload_failed trigger=%s source=%s error=%r kept=running_config", trigger,
                          exc.source, "; ".join(exc.problems))
                return ReloadOutcome(False, f"failed to reload config: {exc}")
            previous = self.app.config
            try:
                done = self.app.reload(config, self.select(config))
            except Exception as exc:  # a bug: say so with its traceback; the running config stays in use
                self.app.reloads.failed()
                log.error("event=config_reload_failed trigger=%s source=%s error=%r", trigger, config.source,
                          f"{type(exc).__name__}: {exc}", exc_info=exc)
                return ReloadOutcome(False, f"failed to apply config: {type(exc).__name__}: {exc}")
            self.app.reloads.succeeded()
            restart = restart_required(previous, config)
            (log.warning if restart else log.info)(
                "event=config_reloaded trigger=%s source=%s accounts=%d added=%d removed=%d collectors=%s "
                "recollect=%s stopped=%s restart_required=%s", trigger, config.source, done.accounts,
                len(done.added), len(done.removed), ",".join(done.collectors) or "none",
                ",".join(done.recollect) or "none", ",".join(done.stopped) or "none", ",".join(restart) or "none")
            return ReloadOutcome(True, _summary(done, restart))


def _summary(done: Reloaded, restart: list[str]) -> str:
    lines = [f"config reloaded: {done.accounts} accounts ({len(done.added)} added, {len(done.removed)} removed); "
             f"collectors: {', '.join(done.collectors) or 'none'}"
             + (f"; collecting again now: {', '.join(done.recollect)}" if done.recollect else "")
             + (f"; turned off: {', '.join(done.stopped)}" if done.stopped else "")]
    if restart:
        lines.append(f"not applied until a restart: {', '.join(restart)}")
    return "\n".join(lines)

"""``aws-ops-reporter``: the reporter sidecar (history in SQLite, daily summary in chat).

    aws-ops-reporter --config FILE                       run on the schedule (and serve /metrics)
    aws-ops-reporter --config FILE --once [--date D] [--dry-run]
    aws-ops-reporter --config FILE backfill --from D [--to D] [--yes] [--allow-older]
    aws-ops-reporter --demo [--demo.exporter-url URL] [--demo.language ko]   against aws-ops-exporter --demo

Exit codes: 0 ok, 2 bad config or arguments, 1 a cycle that did not fully succeed (a post failed,
backfill windows failed) or another failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from exporter import __version__, config as config_mod, logsetup
from exporter.cliargs import ArgumentParser, iso_date
from exporter.config import Config, ConfigError, parse_listen_address
from exporter.config.reporter import ReporterSettings, load_settings, spike_mismatches
from exporter.web import WebGuard

log = logging.getLogger("exporter.reporter")


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    p.add_argument("--config", metavar="FILE", default=default, help="config file (YAML), `reporter:` section")
    p.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warning", "error"), default=default)
    p.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"), default=default)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="aws-ops-reporter",
                        description="Stores the exporter's /snapshot history in SQLite and posts a daily summary "
                                    "(facts computed in Python; an LLM writes the prose, checked against the facts).")
    _common(p, suppress=False)
    p.add_argument("--once", action="store_true", help="one cycle: pull, store, summarize the day, post; then exit")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                   help="with --once: the (UTC) cost day to summarize (default: yesterday in reporter.timezone)")
    p.add_argument("--dry-run", action="store_true", help="with --once: print the message instead of posting it")
    p.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT",
                   help="where to serve the reporter's own /metrics (default: reporter.listen_address, :9781)")
    p.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                   help="TLS, basic auth and response headers for the reporter's /metrics (the exporter's format)")
    p.add_argument("--demo", action="store_true",
                   help="print the summary of a running `aws-ops-exporter --demo` (its fleet and budgets, "
                        "history in memory, nothing posted)")
    p.add_argument("--demo.exporter-url", dest="demo_url", metavar="URL", help="with --demo: the demo exporter "
                   "(default http://localhost:9780)")
    p.add_argument("--demo.language", dest="demo_language", choices=("en", "ko"), default="en",
                   help="with --demo: the summary's language")
    p.add_argument("--demo.wait", dest="demo_wait", type=float, default=180.0, metavar="SECONDS",
                   help="with --demo: how long to wait for the exporter's first collection (default 180)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=ArgumentParser)
    b = sub.add_parser("backfill", help="fill the history from Cost Explorer (DAILY), resumable")
    _common(b, suppress=True)
    b.add_argument("--from", dest="start", type=iso_date, required=True, metavar="YYYY-MM-DD", help="first day")
    b.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD", help="last day, included (default: yesterday, UTC)")
    b.add_argument("--yes", action="store_true", help="do not ask before spending (non-interactive runs never ask)")
    b.add_argument("--allow-older", action="store_true",
                   help="allow --from beyond the 14 months Cost Explorer keeps by default (multi-year data enabled)")
    return p


def _load(path: str) -> tuple[Config, ReporterSettings]:
    config = config_mod.load(path)
    return config, load_settings(config.reporter, config.source)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.demo:
        if args.config or args.once or args.command:
            p.error("--demo reads the demo's own config and prints once; drop --config, --once and commands")
        from exporter.reporter import demo

        logsetup.setup("error", args.log_format or "logfmt")  # the wait for the exporter says itself what it waits for
        return demo.run(args.demo_url or demo.DEFAULT_URL, args.demo_language, args.demo_wait)
    if args.demo_url:
        p.error("--demo.exporter-url goes with --demo")
    if not args.config:
        p.error("--config FILE is required (or --demo against a running aws-ops-exporter --demo)")
    if (args.date or args.dry_run) and not args.once and args.command is None:
        p.error("--date and --dry-run need --once")
    try:
        config, settings = _load(args.config)
    except ConfigError as exc:
        print(f"aws-ops-reporter: invalid config {exc}", file=sys.stderr)
        return 2
    listen = getattr(args, "listen_address", None) or settings.listen_address
    try:
        host, port = parse_listen_address(listen)
    except ValueError as exc:
        p.error(f"--web.listen-address: {exc}")
    guard = None
    if getattr(args, "web_config_file", None) and args.command is None and not args.once:
        try:
            guard = WebGuard.load(args.web_config_file)
        except ConfigError as exc:
            print(f"aws-ops-reporter: invalid web config {exc}", file=sys.stderr)
            return 2
    logsetup.setup(args.log_level or config.log.level, args.log_format or config.log.format)
    for line in spike_mismatches(config, settings.summary):
        log.warning("event=config_warning warning=%r", line)

    from exporter.reporter.store import Store

    try:
        store = Store.open(settings.database)
    except Exception as exc:  # noqa: BLE001 - e.g. an unwritable path or a newer schema
        log.error("event=database_open_failed path=%s error=%r", settings.database, str(exc))
        return 1
    try:
        if args.command == "backfill":
            return _backfill(args, config, store)
        reporter = _reporter(config, settings, store)
        if args.once:
            return 0 if reporter.once(args.date, dry_run=args.dry_run) else 1
        return _serve(reporter, settings, host, port, guard)
    finally:
        store.close()


def _reporter(config: Config, settings: ReporterSettings, store):  # noqa: ANN001, ANN202
    from exporter.reporter.runner import Reporter

    account_budgets = {a.name: a.budget_usd for a in config.accounts if a.budget_usd is not None}
    reporter = Reporter(settings, store, project_budgets=config.budgets.projects, account_budgets=account_budgets,
                        cost_metric=config.collectors.cost.metric)
    store.upsert_accounts((a.id, a.name, a.project) for a in config.accounts)
    if settings.llm is None:
        log.info("event=llm_not_configured summary=deterministic")
    if not settings.chat:
        log.info("event=chat_not_configured summary_destination=log")
    return reporter


def _backfill(args: argparse.Namespace, config: Config, store) -> int:  # noqa: ANN001
    from exporter.reporter import backfill

    today = dt.datetime.now(dt.timezone.utc).date()
    end = args.end or today - dt.timedelta(days=1)
    if args.start > end:
        print("aws-ops-reporter: backfill: --from is after --to", file=sys.stderr)
        return 2
    if end >= today:
        print("aws-ops-reporter: backfill: --to must be before today (UTC): today is not complete", file=sys.stderr)
        return 2
    oldest = backfill.oldest_available(today)
    if args.start < oldest and not args.allow_older:
        print(f"aws-ops-reporter: backfill: --from {args.start} is older than {oldest}: Cost Explorer keeps "
              f"{backfill.HISTORY_MONTHS} months by default (--allow-older if multi-year data is enabled)",
              file=sys.stderr)
        return 2
    confirm = None
    if sys.stdin.isatty() and not args.yes:
        def confirm(question: str) -> bool:
            return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    failed = backfill.run(config, store, args.start, end + dt.timedelta(days=1), confirm=confirm)
    return 1 if failed else 0


def _serve(reporter, settings: ReporterSettings, host: str, port: int,  # noqa: ANN001
           guard: WebGuard | None = None) -> int:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    try:
        server, _ = reporter.metrics.serve(host, port, guard)
    except OSError as exc:
        log.error("event=listen_failed port=%d error=%r", port, str(exc))
        return 1
    scheduler = BackgroundScheduler(timezone=settings.tz)
    job = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600}
    scheduler.add_job(reporter.tick, IntervalTrigger(seconds=settings.pull_interval_seconds, timezone=settings.tz),
                      next_run_time=dt.datetime.now(settings.tz), id="pull", **job)
    # The trigger due_day() reads, so the job fires exactly when a post becomes due.
    scheduler.add_job(reporter.tick, reporter.trigger, id="daily_summary", **job)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    log.info("event=started metrics_port=%d %s exporters=%d destinations=%s schedule=%02d:%02d timezone=%s "
             "next_summary=%s version=%s", server.server_port,
             guard.describe() if guard is not None else "tls=false basic_auth_users=0", len(settings.exporter_urls),
             ",".join(d.name for d in reporter.destinations()), settings.schedule_hour, settings.schedule_minute,
             settings.timezone, scheduler.get_job("daily_summary").next_run_time.isoformat(), __version__)
    stop.wait()
    log.info("event=shutdown")
    scheduler.shutdown(wait=True)
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

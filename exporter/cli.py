"""``aws-ops-exporter``: serve, collect once, validate a config, or run the embedded demo fleet.

Exit codes: 0 ok; 2 bad config or bad arguments, or (``--once``, ``--check-credentials``) credentials that do not
work; 1 anything else (e.g. the port is taken, or with ``--once`` a collector failed for every account).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from exporter import __version__, config as config_mod, logsetup
from exporter.app import COLLECTOR_NAMES, App
from exporter.cliargs import ArgumentParser, iso_date, positive_int, shard
from exporter.config import Config, ConfigError, ShardSettings, parse_listen_address
from exporter.lifecycle import Reloader
from exporter.web import WebGuard

log = logging.getLogger("exporter")


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="aws-ops-exporter",
                        description="Prometheus exporter for a fleet of AWS accounts: Cost Explorer, AWS Health, "
                                    "CloudWatch. Collects on its own schedule; a scrape never calls AWS.")
    p.add_argument("--config", metavar="FILE", help="config file (YAML); see config.yaml")
    p.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT",
                   help="address to serve /metrics on (default: config web.listen_address, else :9780)")
    p.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                   help="TLS, basic auth and response headers for every endpoint, in the Prometheus "
                        "exporter-toolkit's web config format (see the README)")
    p.add_argument("--web.telemetry-path", dest="telemetry_path", type=telemetry_path, default="/metrics",
                   metavar="PATH", help="path to serve the metrics on (default: /metrics)")
    p.add_argument("--web.enable-lifecycle", dest="enable_lifecycle", action="store_true",
                   help="allow POST /-/reload (reload the config as SIGHUP does); without it, 403")
    p.add_argument("--once", action="store_true",
                   help="run every enabled collector once, print the exposition to stdout and exit")
    p.add_argument("--as-of", dest="as_of", type=iso_date, metavar="YYYY-MM-DD",
                   help="with --once, or with --demo (serving too): collect as if today were this UTC day "
                        "(backfills, replays; the demo fleet's data follows it); AWS Health keeps no history, "
                        "its events are as they are now")
    p.add_argument("--demo", action="store_true",
                   help="run against an embedded AWS stand-in seeded with a synthetic fleet (no AWS account needed)")
    p.add_argument("--organization", action="store_true",
                   help="with --demo: the demo fleet as an AWS Organization (discovery, payer Cost Explorer, "
                        "organization Health, a CloudWatch monitoring account; no role assumed in any account)")
    p.add_argument("--shard", type=shard, metavar="I/N",
                   help="collect only share I of N of the accounts (0 <= I < N; overrides the config's shard:); "
                        "shard 0 also makes the organization-wide calls. Run N replicas, one per share")
    p.add_argument("--check-config", action="store_true", help="validate the config and exit")
    p.add_argument("--check-credentials", action="store_true",
                   help="with --check-config: also check the main credentials (sts:GetCallerIdentity) and try "
                        "AssumeRole into every role the enabled collectors would assume; print a table, exit 2 "
                        "when any failed")
    p.add_argument("--estimate-cost", dest="estimate_cost", action="store_true",
                   help="print what this config costs in AWS API charges a day and a month, per collector, "
                        "per-account and fleet-wide modes side by side; calls no AWS API (see --discover)")
    p.add_argument("--accounts", type=positive_int, metavar="N",
                   help="with --estimate-cost: estimate for N accounts (organization mode needs it or --discover)")
    p.add_argument("--discover", action="store_true",
                   help="with --estimate-cost: list the organization's accounts first (Organizations calls only)")
    p.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"))
    for name in COLLECTOR_NAMES:
        p.add_argument(f"--collector.{name}", dest=f"collector_{name}", action="store_true", default=None,
                       help=f"enable the {name} collector (overrides the config)")
        p.add_argument(f"--no-collector.{name}", dest=f"collector_{name}", action="store_false",
                       help=f"disable the {name} collector")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def telemetry_path(value: str) -> str:
    from exporter.server import PATHS

    if not value.startswith("/") or any(c.isspace() or c in "?#" for c in value):
        raise argparse.ArgumentTypeError(f"not a URL path (/metrics): {value!r}")
    if value in PATHS:
        raise argparse.ArgumentTypeError(f"{value} is another endpoint's path")
    return value


def _selected_collectors(args: argparse.Namespace, config: Config) -> list[str]:
    enabled = set(config.collectors.enabled())
    for name in COLLECTOR_NAMES:
        flag = getattr(args, f"collector_{name}")
        if flag is True:
            enabled.add(name)
        elif flag is False:
            enabled.discard(name)
    return [n for n in COLLECTOR_NAMES if n in enabled]


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if (args.accounts or args.discover) and not args.estimate_cost:
        p.error("--accounts and --discover go with --estimate-cost")
    if args.as_of and not (args.once or args.demo or args.estimate_cost or args.check_config):
        p.error("--as-of needs --once or --demo (a long-running exporter always collects as of today)")
    if not args.config and not args.demo:
        p.error("--config FILE is required (or --demo for the embedded demo fleet)")
    if args.demo and (args.check_config or args.config):
        p.error("--demo runs its own embedded config; drop --config / --check-config")
    if args.check_credentials and not args.check_config:
        p.error("--check-credentials goes with --check-config")
    if args.organization and not args.demo:
        p.error("--organization goes with --demo (for a real organization, set organization.enabled in the config)")
    if args.listen_address:
        try:
            parse_listen_address(args.listen_address)
        except ValueError as exc:
            p.error(f"--web.listen-address: {exc}")

    guard = None
    if args.web_config_file and not args.once:
        try:
            guard = WebGuard.load(args.web_config_file)
        except ConfigError as exc:
            print(f"aws-ops-exporter: invalid web config {exc}", file=sys.stderr)
            return 2

    demo = None
    try:
        if args.demo:
            # The demo is a package of its own, imported only here; it imports moto only as it starts.
            import aws_ops_demo

            demo = aws_ops_demo.start(as_of=args.as_of, organization=args.organization)
            config = demo.config
        else:
            config = config_mod.load(args.config)
        config = _with_shard(args, config)
    except ConfigError as exc:
        print(f"aws-ops-exporter: invalid config {exc}", file=sys.stderr)
        return 2

    if args.estimate_cost:
        return _estimate_cost(args, config)
    if args.check_config:
        discovery = "; accounts also discovered from AWS Organizations" if config.organization.enabled else ""
        print(f"{config.source}: ok ({len(config.accounts)} accounts{discovery}; collectors: "
              f"{', '.join(config.collectors.enabled()) or 'none'}"
              f"{f'; shard {config.shard.index}/{config.shard.count}' if config.shard.count > 1 else ''})")
        _warn_spend(config, args.as_of)
        if guard is not None:
            print(f"{args.web_config_file}: ok ({guard.describe()})")
        return _check_credentials(args, config) if args.check_credentials else 0

    logsetup.setup(args.log_level or config.log.level, args.log_format or config.log.format)
    try:
        app = App.build(config, only=_selected_collectors(args, config), process_metrics=not args.once,
                        as_of=args.as_of)
        if args.once:
            return _once(app)
        return _serve(app, args, Reloader(app, (lambda: _with_shard(args, demo.config)) if demo is not None else
                                                (lambda: _with_shard(args, config_mod.load(args.config))),
                                          lambda new: _selected_collectors(args, new)), guard)
    finally:
        if demo is not None:
            demo.stop()


def _with_shard(args: argparse.Namespace, config: Config) -> Config:
    """``--shard I/N`` wins over the config's ``shard:``."""
    if args.shard is None:
        return config
    return dataclasses.replace(config, shard=ShardSettings(*args.shard))


def _once(app: App) -> int:
    if app.credentials.check() is not None:
        return 2  # said in one line; collecting would fail for every account
    app.collect_once()
    sys.stdout.buffer.write(app.exposition.metrics())
    sys.stdout.flush()
    failed = app.failed_everywhere()
    if failed:
        log.error("event=once_failed failed=%s reason=%r", ",".join(failed), "failed for every account")
        return 1
    return 0


def _estimate_cost(args: argparse.Namespace, config: Config) -> int:
    from exporter.estimate import command

    logsetup.setup(args.log_level or "warning", args.log_format or config.log.format)
    code, text = command(config, args.as_of, args.accounts, args.discover)
    (sys.stdout if code == 0 else sys.stderr).write(text)
    return code


def _warn_spend(config: Config, as_of: dt.date | None) -> None:
    from exporter.estimate import spend_warning

    warning = spend_warning(config, as_of)
    if warning:
        print(f"aws-ops-exporter: warning: {warning}", file=sys.stderr)
    from exporter.config.reporter import spike_mismatches

    for line in spike_mismatches(config):
        print(f"aws-ops-exporter: warning: {line}", file=sys.stderr)


def _check_credentials(args: argparse.Namespace, config: Config) -> int:
    from exporter.credcheck import check_credentials, table

    logsetup.setup(args.log_level or "warning", args.log_format or config.log.format)
    checks = check_credentials(App.build(config, only=_selected_collectors(args, config), process_metrics=False))
    print(table(checks))
    return 2 if any(c.problem is not None for c in checks) else 0


def _serve(app: App, args: argparse.Namespace, reloader: Reloader, guard: WebGuard | None = None) -> int:
    from exporter.server import Lifecycle, WebServer

    listen_address = args.listen_address or app.config.web.listen_address
    host, port = parse_listen_address(listen_address)
    lifecycle = Lifecycle(reload=_http_reload(reloader) if args.enable_lifecycle else None,
                          next_runs=lambda: app.running.next_runs() if app.running is not None else {},
                          reloads=app.reloads.view)
    try:
        server = WebServer(host, port, lambda: app.exposition, lambda: app.holder.current, guard,
                           telemetry_path=args.telemetry_path, lifecycle=lifecycle)
    except OSError as exc:
        log.error("event=listen_failed address=%s error=%r", listen_address, str(exc))
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if hasattr(signal, "SIGHUP"):  # a reload in its own thread: the handler must return at once
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=reloader.reload, args=("sighup",),
                                                                 name="reload", daemon=True).start())
    server.start()
    log.info("event=listening address=%s port=%d telemetry_path=%s lifecycle=%s accounts=%d discovery=%s "
             "collectors=%s shard=%s %s version=%s", listen_address or ":", server.port, args.telemetry_path,
             str(args.enable_lifecycle).lower(), len(app.config.accounts), str(app.discovery is not None).lower(),
             ",".join(c.name for c in app.collectors), app.shard,
             guard.describe() if guard is not None else "tls=false basic_auth_users=0", __version__)
    stop_collecting = app.schedule_when_credentials_work(stop)
    stop.wait()
    log.info("event=shutdown")
    app.runner.stop()
    stop_collecting()
    server.stop()
    return 0


def _http_reload(reloader: Reloader) -> Callable[[], tuple[bool, str]]:
    def reload() -> tuple[bool, str]:
        outcome = reloader.reload("http")
        return outcome.ok, outcome.message

    return reload


if __name__ == "__main__":
    raise SystemExit(main())

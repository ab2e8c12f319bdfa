"""`arbiter` command line (typer)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import math
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arbiter.platform.cli_tools import choices
from arbiter.platform.config import (
    ArbiterConfig,
    BusKind,
    ConfigError,
    MarketClock,
    SagaExecution,
    load_config,
    services,
)
from arbiter.platform.telemetry.logging import LogFormat, LogLevel, set_log_options
from arbiter.platform.venues import VENUES

app = typer.Typer(help="Arbiter: cross-venue prediction-market arbitrage.", no_args_is_help=True)

if TYPE_CHECKING:
    ServiceName = VenueName = str
else:
    ServiceName = choices("ServiceName", services())
    VenueName = choices("VenueName", VENUES.slugs())

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file; default: ARBITER_CONFIG, else "
                                        "the built-in defaults (ARBITER__ variables apply "
                                        "on top of either).")
]


def _from_config(key: str) -> str:
    """Help for an option whose default is a config key's value."""
    section, field = key.split(".")
    model = ArbiterConfig.model_fields[section].annotation
    default = model.model_fields[field].default  # type: ignore[union-attr]
    return f"Default: {key} from the config ({default})."


def _load(config: Path | None, overrides: dict[str, Any]) -> ArbiterConfig:
    try:
        return load_config(config, overrides={k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


MAX_DURATION_S = 366 * 24 * 3600  # a run longer than a year is a typo, not a plan
MAX_STEPS = 10**9  # a year and more of 50 ms steps


def _duration(value: float | None) -> float | None:
    """`--duration`: finite seconds in (0, a year]; NaN and infinity parse as floats but
    would make the run end at once or never."""
    if value is not None and not (math.isfinite(value) and 0 < value <= MAX_DURATION_S):
        raise typer.BadParameter(f"{value} is not a number of seconds in (0, {MAX_DURATION_S}]")
    return value


def _error(message: str) -> typer.Exit:
    """Print each line of `message` as an error; the caller raises the returned exit 2."""
    for line in message.splitlines():
        typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def _arm_live(cfg: ArbiterConfig, live: bool, armed: bool, headless: bool) -> None:
    """Live trading spends real money: it needs `--live` and then either
    `--yes-i-mean-live` or, in an interactive run, the tenant id typed back. A config that
    says `venues.mode: live` is not enough on its own, so a copied file cannot arm a run."""
    if not live:
        if not cfg.venues.paper:
            raise _error("venues.mode is live in the configuration; pass --live to arm a "
                         "live run")
        if armed:
            raise _error("--yes-i-mean-live arms a live run; it needs --live")
        return
    if armed:
        return
    tenant = cfg.tenant.id
    if headless:
        raise _error("live trading is not armed: a headless run needs --yes-i-mean-live")
    typer.secho(f"LIVE: real orders for tenant {tenant!r} at "
                f"{', '.join(cfg.venues.settings(v).url for v in _traded(cfg))}",
                fg=typer.colors.RED, bold=True, err=True)
    try:
        typed = typer.prompt("Type the tenant id to arm live trading", err=True)
    except typer.Abort:
        typer.echo(err=True)  # the prompt's line was never ended
        raise _error("live trading is not armed: no confirmation was typed") from None
    if typed.strip() != tenant:
        raise _error(f"live trading is not armed: {typed.strip()!r} is not the tenant id")


def _traded(cfg: ArbiterConfig) -> tuple[str, ...]:
    from arbiter.topology.universe import TradingUniverse

    return TradingUniverse.from_config(cfg.market).venues


@app.command()
def run(
    duration: Annotated[float | None, typer.Option(
        help="Wall-clock seconds to run; default until Ctrl-C/SIGTERM.",
        callback=_duration)] = None,
    steps: Annotated[int | None, typer.Option(
        help="Market steps to run (one per market.step_ms); on the memory bus a seed gives "
             "the same numbers. Default: no step limit (see --duration).", min=1,
        max=MAX_STEPS)] = None,
    summary_json: Annotated[Path | None, typer.Option(
        help="Write the run summary here; default: print it on stdout.")] = None,
    execution: Annotated[SagaExecution | None, typer.Option(
        help="sequential: leg 2 after leg 1 filled; parallel: both legs at once. " +
             _from_config("saga.execution"))] = None,
    seed: Annotated[int | None, typer.Option(
        help="Synthetic market seed. " + _from_config("market.seed"))] = None,
    headless: Annotated[bool, typer.Option(help="No live view.")] = False,
    bus: Annotated[BusKind | None, typer.Option(
        help=_from_config("bus.kind"))] = None,
    clock: Annotated[MarketClock | None, typer.Option(
        help="lockstep: each market step fully processed, deterministic; free: the market "
             "steps on the wall clock while the engine runs. " + _from_config("market.clock"))
    ] = None,
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="HOST:PORT of a Kafka broker; default: start tansu.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics and health here (0: any free port); default: not served.",
                                 min=0, max=65535)
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface the metrics endpoint listens on.")
    ] = "127.0.0.1",
    dry_run: Annotated[
        bool, typer.Option(help="Build, sign, log and count every order; send none.")
    ] = False,
    external_venues: Annotated[
        bool, typer.Option(help="Trade with the venues at venues.*_url (arbiter emulator) "
                                "instead of in-process emulators.")
    ] = False,
    live: Annotated[
        bool, typer.Option(help="Trade live (venues.mode=live) at venues.*_url with the "
                                "tenant's keys from the vault store; must be armed.")
    ] = False,
    yes_i_mean_live: Annotated[
        bool, typer.Option("--yes-i-mean-live", help="Arm --live without the typed "
                                                      "confirmation (headless runs).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run every service in one process against the emulated (or, --live, the real) venues;
    SIGINT/SIGTERM stop trading, cancel resting orders and write the summary."""
    from arbiter.cli.view import LiveView
    from arbiter.topology.runner import RunLimits, StartupError, run_embedded

    cfg = _load(config, {"market.seed": seed, "bus.kind": bus, "market.clock": clock,
                         "saga.execution": execution,
                         "bus.kafka_bootstrap": kafka_bootstrap,
                         "venues.dry_run": True if dry_run else None,
                         "venues.mode": "live" if live else None})
    _arm_live(cfg, live, yes_i_mean_live, headless)
    try:
        summary = asyncio.run(run_embedded(
            cfg, RunLimits(steps, duration), view=None if headless else LiveView,
            metrics_port=metrics_port, metrics_host=metrics_host,
            external_venues=external_venues, stop_signal=_stop_signal,
            announce=lambda line: typer.echo(line, err=True)))
    except (StartupError, ConfigError) as exc:
        raise _error(str(exc)) from None
    text = json.dumps(summary, indent=2)
    if summary_json is not None:
        summary_json.write_text(text + "\n")
    if headless or summary_json is None:
        typer.echo(text)
    faults = summary.get("bus_faults", {})
    if faults.get("outages") or faults.get("data_losses") or faults.get("down_at_stop"):
        typer.secho(f"error: the Kafka broker failed during the run ({faults}); the summary "
                    "may miss what it lost", fg=typer.colors.RED, err=True)
        raise typer.Exit(3)


@app.command()
def serve(
    service: Annotated[ServiceName, typer.Argument(
        help="gateway-<venue> for each registered venue, orderbook, detector, risk, saga, "
             "vault or control.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Run one service as its own process (what each Kubernetes pod runs)."""
    from arbiter.topology.distributed import serve_service

    cfg = _load(config, {})
    try:
        asyncio.run(serve_service(str(service), cfg, _stop_signal))
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _ports(values: list[str]) -> dict[str, int]:
    """`--port VENUE=PORT` options as a mapping; a typer error names a bad one."""
    from arbiter.platform.venues import VENUES, UnknownVenue

    ports: dict[str, int] = {}
    for value in values:
        venue, sep, number = value.partition("=")
        try:
            if not sep:
                raise ValueError("expected VENUE=PORT")
            VENUES.get(venue)
            if venue in ports:
                raise ValueError(f"{venue} is given twice")
            if not number.isdigit() or not 0 <= int(number) <= 65535:
                raise ValueError(f"port {number!r} is not a number in 0..65535")
        except (UnknownVenue, ValueError) as exc:
            raise typer.BadParameter(f"{value!r}: {exc}", param_hint="--port") from None
        ports[venue] = int(number)
    return ports


def _register_key(emulated: Any, value: str) -> None:
    """One `--register-key VENUE:KEY_ID=PUBLIC_PEM_FILE`, through the venue's plugin; a typer
    error names what was wrong."""
    from arbiter.venues.plugin import plugin

    venue, _, rest = value.partition(":")
    key_id, sep, path = rest.partition("=")
    try:
        if not sep or not key_id or not path:
            raise ValueError("expected VENUE:KEY_ID=PUBLIC_PEM_FILE")
        if venue not in emulated.venues:
            raise ValueError(f"{venue!r} is not an emulated venue "
                             f"({', '.join(sorted(emulated.venues))})")
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        plugin(venue).register_emulator_key(emulated[venue], key_id, pem)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: {exc}", param_hint="--register-key") from None


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[list[str] | None, typer.Option(
        help="VENUE=PORT, repeatable (0: any free port); default: each venue's usual port "
             "(polymarket 8601, kalshi 8602).")] = None,
    open_registration: Annotated[
        bool, typer.Option(help="Let paper gateways onboard keys the venue was not told of.")
    ] = False,
    register_key: Annotated[list[str] | None, typer.Option(
        help="VENUE:KEY_ID=PUBLIC_PEM_FILE, repeatable: an API key the venue knows, as a live "
             "key created in its UI (kalshi).")] = None,
    seed: Annotated[int | None, typer.Option(
        help="Synthetic market seed. " + _from_config("market.seed"))] = None,
    config: ConfigOption = None,
) -> None:
    """Run every venue the configured pairs trade as emulators in their own process (they
    outlive the engine)."""
    from arbiter.emulators.server import emulator_command
    from arbiter.topology.embedded import EmulatedVenues

    ports = _ports(port or [])
    cfg = _load(config, {"market.seed": seed})
    emulated = EmulatedVenues.create(cfg, open_registration=open_registration)
    for value in register_key or []:
        _register_key(emulated, value)
    emulator_command(emulated.venues, emulated.market, host, ports)


@app.command("check-connectivity")
def check_connectivity(
    venue: Annotated[
        VenueName | None, typer.Option(help="One registered venue; default: every venue "
                                            "traded.")
    ] = None,
    min_balance: Annotated[
        str, typer.Option("--min-balance", help="Least spendable balance per venue, dollars.")
    ] = "0",
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, one object per venue.")
                       ] = False,
    config: ConfigOption = None,
) -> None:
    """Prove each venue ready to trade: reach, protocol, clock skew, auth, balance, the
    configured markets and every WebSocket channel; exit 1 on any failure, 2 on bad config."""
    from decimal import Decimal, InvalidOperation

    from rich.console import Console

    from arbiter.core.units import money_from_decimal
    from arbiter.gateways.connectivity import as_json as result_json
    from arbiter.gateways.connectivity import render_table
    from arbiter.platform.venues import UnknownVenue
    from arbiter.topology.connectivity import check_configured

    try:
        min_micros = money_from_decimal(Decimal(min_balance))
        if min_micros < 0:
            raise ValueError("is negative")
    except (InvalidOperation, ValueError) as exc:
        typer.secho(f"error: --min-balance {min_balance!r}: not a dollar amount >= 0 with at "
                    f"most 6 decimals ({exc})", fg="red", err=True)
        raise typer.Exit(2) from None
    cfg = _load(config, {})
    try:
        results = asyncio.run(check_configured(cfg, [str(venue)] if venue else None,
                                               min_balance_micros=min_micros))
    except UnknownVenue as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([result_json(r) for r in results], indent=2))
    else:
        Console(width=160).print(render_table(results))
    for result in results:
        for failure in result.failures:
            typer.secho(f"{result.venue}: {failure}", fg="red", err=True)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _stop_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


config_app = typer.Typer(help="Check a configuration, or show the effective one.",
                         no_args_is_help=True)


@config_app.command("validate")
def config_validate(config: ConfigOption = None) -> None:
    """Load and validate the configuration (the file, then ARBITER__ variables) as every
    command would; exit 2 with every bad key named, 0 when it loads."""
    loaded = _load(config, {})
    where = config or os.environ.get("ARBITER_CONFIG") or "defaults"
    typer.echo(f"ok: {where} (tenant {loaded.tenant.id}, {len(loaded.market.pairs)} pairs, "
               f"venues {loaded.venues.mode})")


@config_app.command("show")
def config_show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every effective setting, secrets masked, with where it came from: default, file or
    environment."""
    from arbiter.platform.config import explain_config

    try:
        values = explain_config(config)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    for value in values:
        if as_json:
            typer.echo(json.dumps({"key": value.key, "value": value.value,
                                   "source": value.source}))
        else:
            typer.echo(f"{value.key} = {json.dumps(value.value)}  ({value.source})")


def _version(show: bool) -> None:
    if show:
        typer.echo(f"arbiter {importlib.metadata.version('arbiter')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    log_level: Annotated[LogLevel | None, typer.Option(
        envvar="ARBITER_LOG_LEVEL", case_sensitive=False, show_default=False,
        help="Least severe log record written; default: warning for `run` (its live view "
             "owns the terminal), info for `serve`.")] = None,
    log_format: Annotated[LogFormat | None, typer.Option(
        envvar="ARBITER_LOG_FORMAT", case_sensitive=False, show_default=False,
        help="json: one JSON object per line; console: human-readable, coloured on a "
             "terminal. Default: json for `serve` (what a pod ships), and for `run` console "
             "when stderr is a terminal, else json. Secrets are redacted in both.")] = None,
) -> None:
    """Arbiter: cross-venue prediction-market arbitrage."""
    set_log_options(log_level, log_format)


def _mount_subcommands() -> None:
    from arbiter.cli.ctl import app as ctl_app
    from arbiter.cli.pki import app as pki_app
    from arbiter.cli.record import app as record_app
    from arbiter.vault.cli import app as vault_app
    from arbiter.venues.plugin import plugins

    app.add_typer(vault_app, name="vault", help="Tenant credentials: put, rotate, status.")
    app.add_typer(config_app, name="config")
    app.add_typer(ctl_app, name="ctl")
    app.add_typer(pki_app, name="pki")
    app.add_typer(record_app, name="record")
    venue_app = typer.Typer(help="Venue wire-protocol tools: sign orders and requests offline.")
    for venue in plugins():
        tools = venue.cli()
        if tools is not None:
            venue_app.add_typer(tools, name=venue.slug, help=tools.info.help)
    app.add_typer(venue_app, name="venue", help="Sign venue orders/requests for debugging.")
    from arbiter.bot.cli import app as bot_app  # the Telegram operator bot
    app.add_typer(bot_app, name="bot")


_mount_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""A probe of bad configurations: each one stops loading with a `ConfigError` naming the field.

Every case is something an operator could plausibly write (a typo, a unit mix-up, YAML's
number quirks, a bool where a count belongs, an unreadable file); none may load, none may
escape as a traceback, and the message must point at the offending key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from arbiter.platform.config import ConfigError, load_config

PM_LEG = ("{venue: polymarket, condition_id: '0x" + "ab" * 32 + "', yes_token: '1', "
          "no_token: '2'%s}")
KX_LEG = "{venue: kalshi, ticker: KXONE%s}"


def pair(a: str = "", b: str = "") -> str:
    """A one-pair market whose legs carry extra YAML flow-mapping entries."""
    return f"market:\n  pairs:\n  - pair_id: p\n    a: {PM_LEG % a}\n    b: {KX_LEG % b}\n"


@dataclass(frozen=True)
class Probe:
    """One bad configuration: a file's text (or a maker of the path), env and CLI overrides."""

    name: str
    fragment: str  # what the error must name
    text: str | None = None
    environ: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    make_path: Callable[[Path], Path] | None = None


def _binary(tmp: Path) -> Path:
    path = tmp / "config.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _directory(tmp: Path) -> Path:
    (tmp / "conf.d").mkdir()
    return tmp / "conf.d"


PROBES = [
    # files that are not a YAML mapping
    Probe("binary file", "config.bin", make_path=_binary),
    Probe("directory as config", "conf.d", make_path=_directory),
    Probe("list at the top", "must hold a mapping", text="- a\n- b\n"),
    Probe("unknown top-level key", "markets", text="markets: []\n"),
    Probe("section given a list", "risk", text="risk: [1, 2]\n"),
    Probe("operator-only key in tenant", "tenant.paused", text="tenant: {paused: true}\n"),
    # layering: a flag or variable below a key the file made a scalar
    Probe("flag over scalar section", "bus", text="bus: 5\n", overrides={"bus.kind": "kafka"}),
    Probe("env over scalar section", "bus", text="bus: 5\n",
          environ={"ARBITER__BUS__KIND": "kafka"}),
    Probe("flag over scalar leaf", "market.seed", text="market: {seed: 3}\n",
          overrides={"market.seed.x": 1}),
    # environment variables that name nothing
    Probe("bare prefix", "ARBITER__", environ={"ARBITER__": "1"}),
    Probe("empty key part", "ARBITER__RISK____MAX", environ={"ARBITER__RISK____MAX": "1"}),
    Probe("unknown section by env", "foo", environ={"ARBITER__FOO": "1"}),
    Probe("unknown key by env", "risk.unknown", environ={"ARBITER__RISK__UNKNOWN": "1"}),
    Probe("old gateway address variable", "grpc.gateway_kalshi_addr",
          environ={"ARBITER__GRPC__GATEWAY_KALSHI_ADDR": "h:1"}),
    Probe("gateway address for unknown venue", "grpc.gateway_addrs",
          environ={"ARBITER__GRPC__GATEWAY_ADDRS__FTX": "h:1"}),
    Probe("section by env is not JSON", "bus", environ={"ARBITER__BUS": "kafka"}),
    # numbers far outside any sane range
    Probe("ttl 1e23", "detector.ttl_ms", text="detector: {ttl_ms: 1e23}\n"),
    Probe("ttl 1.0e+23 (a YAML float)", "detector.ttl_ms", text="detector: {ttl_ms: 1.0e+23}\n"),
    Probe("leg timeout 1.0e+23", "saga.leg_timeout_ms",
          text="saga: {leg_timeout_ms: 1.0e+23}\n"),
    Probe("leg timeout 1e23", "saga.leg_timeout_ms", text="saga: {leg_timeout_ms: 1e23}\n"),
    Probe("max_qty 1e400", "detector.max_qty", text="detector: {max_qty: '1e400'}\n"),
    Probe("min profit 1e30", "detector.min_profit_usd", text="detector: {min_profit_usd: 1.0e+30}\n"),
    Probe("position 1e400", "risk.max_position_per_market",
          text="risk: {max_position_per_market: '1e400', max_position_total: '1e401'}\n"),
    Probe("daily loss 1e400", "risk.max_daily_loss_usd", text="risk: {max_daily_loss_usd: '1e400'}\n"),
    Probe("rejections 1e23", "risk.max_rejections_per_hour",
          text="risk: {max_rejections_per_hour: 1e23}\n"),
    Probe("consecutive losses 10**30", "risk.max_consecutive_losses",
          text=f"risk: {{max_consecutive_losses: {10**30}}}\n"),
    Probe("order burst 10**12", "risk.order_burst", text=f"risk: {{order_burst: {10**12}}}\n"),
    Probe("slippage above a dollar", "risk.slippage_threshold_usd",
          text="risk: {slippage_threshold_usd: 5000}\n"),
    Probe("slippage streak 1e23", "risk.max_slippage_streak", text="risk: {max_slippage_streak: 1e23}\n"),
    Probe("seed 2**70", "market.seed", text=f"market: {{seed: {2**70}}}\n"),
    Probe("latency in lock-step", "market.place_latency_ms=30 needs market.clock=free",
          text="market: {place_latency_ms: 30}\n"),
    Probe("unknown clock", "market.clock", text="market: {clock: wall}\n"),
    Probe("unknown execution", "saga.execution", text="saga: {execution: both}\n"),
    # bools are not counts
    Probe("max_open_sagas true", "risk.max_open_sagas", text="risk: {max_open_sagas: true}\n"),
    Probe("orders_per_second true", "risk.orders_per_second", text="risk: {orders_per_second: true}\n"),
    Probe("max_failed_unwinds true", "risk.max_failed_unwinds", text="risk: {max_failed_unwinds: true}\n"),
    Probe("depth_levels true", "detector.depth_levels", text="detector: {depth_levels: true}\n"),
    Probe("partitions true", "bus.partitions", text="bus: {partitions: true}\n"),
    Probe("grpc port true", "grpc.port", text="grpc: {port: true}\n"),
    Probe("pool_max true", "store.pool_max", text="store: {pool_max: true}\n"),
    Probe("seed true", "market.seed", text="market: {seed: true}\n"),
    # NaN and infinity, in every spelling YAML and the environment allow
    Probe("max_qty .nan", "detector.max_qty", text="detector: {max_qty: .nan}\n"),
    Probe("min profit .inf", "detector.min_profit_usd", text="detector: {min_profit_usd: .inf}\n"),
    Probe("exposure 'NaN'", "risk.max_exposure_usd", text="risk: {max_exposure_usd: 'NaN'}\n"),
    Probe("cumulative loss -Infinity", "risk.max_cumulative_loss_usd",
          text="risk: {max_cumulative_loss_usd: '-Infinity'}\n"),
    Probe("peers timeout .nan", "saga.peers_timeout_s", text="saga: {peers_timeout_s: .nan}\n"),
    Probe("ws ping .inf", "venues.ws_ping_interval_s", text="venues: {ws_ping_interval_s: .inf}\n"),
    Probe("heartbeat .nan", "venues.polymarket.heartbeat_s",
          text="venues: {polymarket: {heartbeat_s: .nan}}\n"),
    Probe("fee rate .nan", "market.pairs.0.a.fee_rate", text=pair(a=", fee_rate: .nan")),
    Probe("env ttl 1e23", "detector.ttl_ms", environ={"ARBITER__DETECTOR__TTL_MS": "1e23"}),
    Probe("env sagas nan", "risk.max_open_sagas", environ={"ARBITER__RISK__MAX_OPEN_SAGAS": "nan"}),
    Probe("env leg timeout inf", "saga.leg_timeout_ms",
          environ={"ARBITER__SAGA__LEG_TIMEOUT_MS": "inf"}),
    Probe("env max_qty Infinity", "detector.max_qty", environ={"ARBITER__DETECTOR__MAX_QTY": "Infinity"}),
    Probe("env request timeout nan", "venues.request_timeout_s",
          environ={"ARBITER__VENUES__REQUEST_TIMEOUT_S": "nan"}),
    # amounts finer than a micro-unit: they would fail later, on the trading path
    Probe("max_qty below a micro", "detector.max_qty", text="detector: {max_qty: '0.0000001'}\n"),
    Probe("min profit below a micro", "detector.min_profit_usd",
          text="detector: {min_profit_usd: '0.0000001'}\n"),
    Probe("min size below a micro", "market.pairs.0.a.min_size", text=pair(a=", min_size: '0.0000001'")),
    # addresses that cannot be dialled
    Probe("risk address without port", "grpc.risk_addr", text="grpc: {risk_addr: localhost}\n"),
    Probe("gateway address port 99999", "grpc.gateway_addrs.kalshi",
          text="grpc: {gateway_addrs: {kalshi: 'h:99999'}}\n"),
    Probe("vault address with spaces", "grpc.vault_addr", text="grpc: {vault_addr: 'a b:1'}\n"),
    # values already refused before this probe: they must stay refused
    Probe("negative ttl", "detector.ttl_ms", text="detector: {ttl_ms: -5}\n"),
    Probe("fractional ttl", "detector.ttl_ms", text="detector: {ttl_ms: 1.5}\n"),
    Probe("bad timezone", "risk.trading_day_timezone", text="risk: {trading_day_timezone: Mars/Base}\n"),
    Probe("bad day start", "risk.trading_day_start", text="risk: {trading_day_start: '25:00'}\n"),
    Probe("unknown tier", "tenant.tier", text="tenant: {tier: gold}\n"),
    Probe("unknown kalshi environment", "venues.kalshi.environment",
          text="venues: {kalshi: {environment: moon}}\n"),
    Probe("no pairs", "market.pairs", text="market: {pairs: []}\n"),
    Probe("bad tick", "market.pairs.0.b.tick", text=pair(b=", tick: '0.5'")),
]


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_a_bad_config_is_refused_naming_the_field(probe: Probe, tmp_path: Path) -> None:
    path: Path | None = None
    if probe.make_path is not None:
        path = probe.make_path(tmp_path)
    elif probe.text is not None:
        path = tmp_path / "arbiter.yaml"
        path.write_text(probe.text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=probe.environ, overrides=probe.overrides)
    message = str(caught.value)
    assert probe.fragment in message, message
    assert "\n" not in message and "Traceback" not in message


def test_the_probe_is_large_enough() -> None:
    assert len(PROBES) >= 50

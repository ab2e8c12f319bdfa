"""One typed configuration for every service and topology.

Loaded from an optional YAML file (`--config` or `ARBITER_CONFIG`) and then environment
overrides `ARBITER__SECTION__KEY=value` (double underscore nests). Validation happens once
at start; a bad value stops the process with `ConfigError` naming the key, the value given
and what is allowed. Money is given in dollars/contracts as decimal strings and converted
to integer micro-units here, so no float ever reaches a decision path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from arbiter.core.units import money_from_decimal, qty_from_decimal
from arbiter.platform.tenancy import (
    TENANT_ID_PATTERN,
    TenantLimits,
    TierLimitExceeded,
    tier_named,
)

ENV_PREFIX = "ARBITER__"
SERVICES = (
    "gateway-polymarket",
    "gateway-kalshi",
    "orderbook",
    "detector",
    "risk",
    "saga",
    "vault",
    "control",
)


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message says which and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusConfig(_Section):
    kind: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap: str = ""
    topic_prefix: str = Field("", pattern=r"^[a-z0-9.-]*$")
    # tansu answers a fetch only when this wait expires; 10 ms keeps p99 near 20 ms.
    fetch_max_wait_ms: int = Field(10, ge=2, le=1000)
    # tansu joins a consumer group in about half this; real Kafka's floor is 6000 by default.
    session_timeout_ms: int = Field(10_000, ge=1000, le=300_000)
    partitions: int = Field(4, ge=1, le=64)


class TenantConfig(_Section):
    id: str = Field("default", pattern=TENANT_ID_PATTERN)
    tier: Literal["paper", "standard", "pro"] = "paper"


class PolymarketMarketConfig(_Section):
    condition_id: str = Field(min_length=1)
    yes_token: str = Field(min_length=1)
    no_token: str = Field(min_length=1)
    tick: Decimal = Decimal("0.01")
    fee_rate: Decimal = Field(Decimal("0.04"), ge=0, le=1)
    fee_exponent: int = Field(1, ge=1, le=4)
    min_size: Decimal = Decimal("1")

    @field_validator("tick")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        allowed = {Decimal(t) for t in ("0.1", "0.01", "0.001", "0.0001", "0.005", "0.0025")}
        if v not in allowed:
            raise ValueError(f"tick {v} is not a Polymarket tick size {sorted(allowed)}")
        return v


class KalshiMarketConfig(_Section):
    ticker: str = Field(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
    tick: Decimal = Decimal("0.01")
    fractional: bool = False

    @field_validator("tick")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        if v not in (Decimal("0.01"), Decimal("0.001")):
            raise ValueError(f"tick {v} is not a Kalshi tick (0.01 or 0.001)")
        return v


class PairConfig(_Section):
    pair_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    polymarket: PolymarketMarketConfig
    kalshi: KalshiMarketConfig
    # True when Kalshi's YES pays out exactly when Polymarket's NO does.
    inverted: bool = False


def _default_pairs() -> list[PairConfig]:
    names = ("fed-cut-dec", "btc-100k-eoy", "election-turnout", "cpi-above-3")
    return [
        PairConfig(
            pair_id=name,
            polymarket=PolymarketMarketConfig(
                condition_id=f"0x{i + 1:064x}",
                yes_token=str(10**20 + 2 * i),
                no_token=str(10**20 + 2 * i + 1),
            ),
            kalshi=KalshiMarketConfig(ticker=f"KX{name.upper().replace('-', '')}"),
            inverted=(i == 3),
        )
        for i, name in enumerate(names)
    ]


class MarketConfig(_Section):
    """The emulated market used by the embedded topology and `arbiter emulator`."""

    seed: int = 7
    step_ms: int = Field(50, ge=1, le=60_000)
    pairs: list[PairConfig] = Field(default_factory=_default_pairs, min_length=1)


class DetectorConfig(_Section):
    max_qty: Decimal = Field(Decimal("200"), gt=0)
    min_profit_usd: Decimal = Field(Decimal("0.05"), ge=0)
    ttl_ms: int = Field(500, ge=1)
    depth_levels: int = Field(10, ge=1, le=100)

    @property
    def max_qty_micros(self) -> int:
        return qty_from_decimal(self.max_qty)

    @property
    def min_profit_micros(self) -> int:
        return money_from_decimal(self.min_profit_usd)


class RiskConfig(_Section):
    """One tenant's risk limits and HardStop thresholds (see docs/risk.md).

    Sizes are contracts and money dollars, as decimal strings with at most 6 decimals; the
    risk service converts them once to integer micro-units. Runtime changes go through
    `updated`, so a change is validated exactly like the file.
    """

    max_position_per_market: Decimal = Field(Decimal("2000"), gt=0)  # per market outcome
    max_position_total: Decimal = Field(Decimal("8000"), gt=0)  # all markets together
    max_exposure_usd: Decimal = Field(Decimal("5000"), gt=0)  # capital at risk
    max_open_sagas: int = Field(4, ge=1)
    orders_per_second: int = Field(20, ge=1)  # order-rate budget refill
    order_burst: int = Field(40, ge=2)  # budget depth; a saga takes one order per leg
    max_cumulative_loss_usd: Decimal = Field(Decimal("1000"), gt=0)
    max_daily_loss_usd: Decimal = Field(Decimal("250"), gt=0)
    max_consecutive_losses: int = Field(5, ge=1)
    max_failed_unwinds: int = Field(1, ge=1)  # sagas that end HELD
    max_rejections_per_hour: int = Field(60, ge=0)  # venue order rejections
    slippage_threshold_usd: Decimal = Field(Decimal("0.02"), ge=0)  # per contract
    max_slippage_streak: int = Field(3, ge=1)
    trading_day_start: str = Field("00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    trading_day_timezone: str = "UTC"

    @field_validator("max_position_per_market", "max_position_total")
    @classmethod
    def _contracts(cls, v: Decimal) -> Decimal:
        qty_from_decimal(v)
        return v

    @field_validator("max_exposure_usd", "max_cumulative_loss_usd", "max_daily_loss_usd",
                     "slippage_threshold_usd")
    @classmethod
    def _dollars(cls, v: Decimal) -> Decimal:
        money_from_decimal(v)
        return v

    @field_validator("trading_day_timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (an IANA name such as 'UTC')") from None
        return v

    @field_validator("max_position_total")
    @classmethod
    def _total_covers_one_market(cls, v: Decimal, info: ValidationInfo) -> Decimal:
        per_market = info.data.get("max_position_per_market")
        if per_market is not None and v < per_market:
            raise ValueError(f"is below max_position_per_market={per_market}")
        return v

    def updated(self, changes: Mapping[str, str]) -> RiskConfig:
        """These limits with `changes` applied; `ConfigError` names every bad key."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            known = sorted(type(self).model_fields)
            raise ConfigError(f"unknown risk limits {unknown}; known: {known}")
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from None


class SagaConfig(_Section):
    # An order whose outcome has not arrived after this long is looked up at the venue.
    leg_timeout_ms: int = Field(2_000, ge=1)
    # Durable saga log: ':memory:' suits the embedded default, whose venues live in the same
    # process; give a file when the venues outlive the engine (`arbiter emulator`).
    log_path: str = ":memory:"
    # `arbiter serve saga` waits this long for risk and both gateways before recovering.
    peers_timeout_s: float = Field(120.0, gt=0, le=3600)


class GrpcConfig(_Section):
    port: int = Field(50051, ge=0, le=65535)
    risk_addr: str = "127.0.0.1:50051"
    gateway_polymarket_addr: str = "127.0.0.1:50051"
    gateway_kalshi_addr: str = "127.0.0.1:50051"
    vault_addr: str = "127.0.0.1:50051"
    control_addr: str = "127.0.0.1:50051"


class HealthConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)


class StoreConfig(_Section):
    """PostgreSQL for the distributed topology: `dsn` connects as the application role (row-
    level security applies), `migrate_dsn` as the owner that runs migrations at start."""

    dsn: SecretStr = SecretStr("")
    migrate_dsn: SecretStr = SecretStr("")
    pool_min: int = Field(1, ge=0, le=64)
    pool_max: int = Field(8, ge=1, le=256)


class AuthConfig(_Section):
    """How the control API verifies callers' JWTs (HS256 secret and/or RS256 public key)."""

    hs256_secret: SecretStr = SecretStr("")
    rs256_public_key_path: str = ""
    leeway_seconds: int = Field(0, ge=0, le=300)


class VaultConfig(_Section):
    """Where the vault service keeps credentials and which key backend wraps them.

    `store_dsn` is PostgreSQL as the `arbiter_vault` role (the distributed topology: every
    replica shares it, row-level security per tenant); empty keeps the SQLite file
    `store_path`. It is not `store.dsn`: the app role may not read sealed credentials."""

    backend: Literal["local", "transit"] = "local"
    store_path: str = "arbiter-vault.db"
    store_dsn: SecretStr = SecretStr("")
    master_secret_path: str = ""  # local backend: a 0600 file of 32+ random bytes
    # transit backend: the HashiCorp Vault (or OpenBao) server, its Kubernetes-auth role and
    # the Transit key; the token, for development only, comes from VAULT_TOKEN alone
    addr: str = ""
    role: str = ""
    transit_key: str = "arbiter-credentials"
    transit_mount: str = "transit"


KALSHI_ENVIRONMENTS = {
    "production": ("https://external-api.kalshi.com",
                   "wss://external-api-ws.kalshi.com/trade-api/ws/v2"),
    "demo": ("https://external-api.demo.kalshi.co",
             "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"),
}


class VenueEndpointsConfig(_Section):
    """Where gateways reach the venues (`arbiter serve gateway-*`); the embedded topology
    uses in-process emulators instead. Kalshi's URLs are origins: paths carry /trade-api/v2;
    left empty they follow `kalshi_environment` (production unless demo is asked for).

    `paper` onboards throwaway keys against `arbiter emulator --open-registration`. With
    `paper: false` the keys stay in the vault service (`grpc.vault_addr`), which signs for
    the gateway: `polymarket_credential` names the tenant's EOA key, and Kalshi's key is
    `<kalshi_environment>-<kalshi_credential>`, so a demo run can never sign with the
    production key."""

    polymarket_url: str = "https://clob.polymarket.com"
    polymarket_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com"
    kalshi_environment: Literal["production", "demo"] = "production"
    kalshi_url: str = KALSHI_ENVIRONMENTS["production"][0]
    kalshi_ws_url: str = KALSHI_ENVIRONMENTS["production"][1]
    paper: bool = True
    polymarket_credential: str = "polymarket"
    # how Polymarket orders are signed: eoa trades from the key's own address; poly-proxy,
    # poly-gnosis-safe and poly-1271 trade from `polymarket_funder`, the wallet holding the money
    polymarket_signature_type: Literal["eoa", "poly-proxy", "poly-gnosis-safe", "poly-1271"] = "eoa"
    polymarket_funder: str = ""
    kalshi_credential: str = "kalshi"
    # Polymarket's dead-man switch: once beating, a missed beat cancels our resting orders
    # (0 turns it off). Kalshi's rate-limit tier sets the token buckets; the legacy
    # /portfolio/orders write path is used only when asked for, while it still exists.
    polymarket_heartbeat_s: float = Field(5.0, ge=0, le=9)
    kalshi_tier: Literal["basic", "advanced", "premier", "paragon", "prime"] = "basic"
    kalshi_legacy_order_entry: bool = False
    # Build and sign every order, log and count it, send none (the venue answers a reject).
    dry_run: bool = False
    ws_ping_interval_s: float = Field(10.0, gt=0, le=60)
    request_timeout_s: float = Field(5.0, gt=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _kalshi_urls(cls, data: Any) -> Any:
        """Unset Kalshi URLs follow the environment (an unknown one fails its own check)."""
        if isinstance(data, dict) and (urls := KALSHI_ENVIRONMENTS.get(
                data.get("kalshi_environment", "production"))):
            data = {"kalshi_url": urls[0], "kalshi_ws_url": urls[1],
                    **{k: v for k, v in data.items() if v != ""}}
        return data

    @model_validator(mode="after")
    def _funder_with_wallets(self) -> VenueEndpointsConfig:
        if self.polymarket_signature_type != "eoa" and not self.polymarket_funder:
            raise ValueError(f"polymarket_signature_type={self.polymarket_signature_type!r} "
                             "trades from a wallet: set venues.polymarket_funder to its address")
        return self

    @property
    def kalshi_vault_credential(self) -> str:
        """The vault id of the Kalshi key, namespaced by environment."""
        return f"{self.kalshi_environment}-{self.kalshi_credential}"


class ArbiterConfig(_Section):
    bus: BusConfig = BusConfig()
    tenant: TenantConfig = TenantConfig()
    market: MarketConfig = MarketConfig()
    detector: DetectorConfig = DetectorConfig()
    risk: RiskConfig = RiskConfig()
    saga: SagaConfig = SagaConfig()
    grpc: GrpcConfig = GrpcConfig()
    health: HealthConfig = HealthConfig()
    venues: VenueEndpointsConfig = VenueEndpointsConfig()
    vault: VaultConfig = VaultConfig()
    store: StoreConfig = StoreConfig()
    auth: AuthConfig = AuthConfig()

    @model_validator(mode="after")
    def _within_tier(self) -> ArbiterConfig:
        """A tenant's configuration may not ask for more than its subscription tier allows."""
        try:
            tier_named(self.tenant.tier).check(self.tenant.id, TenantLimits(
                pairs=len(self.market.pairs),
                orders_per_second=self.risk.orders_per_second,
                max_exposure_micros=money_from_decimal(self.risk.max_exposure_usd),
                max_open_sagas=self.risk.max_open_sagas,
            ))
        except TierLimitExceeded as exc:
            raise ValueError(str(exc)) from None
        return self


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: cannot set a key below the scalar {'.'.join(path)}")
        node[path[-1]] = value
    return data


def _describe(error: dict[str, Any]) -> str:
    if not error["loc"]:  # a whole-config rule (the tier check): its message names the keys
        return str(error["msg"]).removeprefix("Value error, ")
    key = ".".join(str(p) for p in error["loc"])
    given = error.get("input")
    return f"{key}={given!r}: {error['msg']}"


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ArbiterConfig:
    """Build and validate the configuration; raise `ConfigError` naming every bad key."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("ARBITER_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping, not {type(loaded).__name__}")
        data = loaded or {}
    data = _apply_env(data, environ)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return ArbiterConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None

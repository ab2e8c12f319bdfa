"""One typed configuration for every service and topology.

Loaded from an optional YAML file (`--config` or `ARBITER_CONFIG`), then environment
overrides `ARBITER__SECTION__KEY=value` (double underscore nests; parsed by pydantic-settings
as `ArbiterConfig.model_config` declares), then command-line flags. Validation happens once
at start; a bad value stops the process with a one-line `ConfigError` naming the key, the
value given and what is allowed. Every number has a range, booleans are not numbers, NaN and
infinity are refused. Money is given in dollars/contracts as decimal strings and converted
to integer micro-units, so no float ever reaches a decision path.

These models are the one configuration contract: the Tenant CRD (`tools/gen_crd.py`) and
the reference in docs/configuration.md are generated from them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from arbiter.core.units import money_from_decimal, qty_from_decimal
from arbiter.platform.tenancy import (
    TENANT_ID_PATTERN,
    TenantLimits,
    TierLimitExceeded,
    tier_named,
)
from arbiter.platform.venues import VENUES, UnknownVenue

ENV_PREFIX = "ARBITER__"
SHARED_SERVICES = ("orderbook", "detector", "risk", "saga", "vault", "control")


def gateway_service(venue: str) -> str:
    """The service (and process, pod, Kubernetes object) name of one venue's gateway."""
    return f"gateway-{venue}"


def services() -> tuple[str, ...]:
    """Every service `arbiter serve` runs: one gateway per registered venue, then the rest."""
    return tuple(gateway_service(slug) for slug in VENUES.slugs()) + SHARED_SERVICES


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message says which and why."""


def _url(value: str, schemes: tuple[str, ...]) -> str:
    parsed = urlsplit(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ValueError(f"{value!r} is not a {' or '.join(schemes)} URL with a host")
    try:
        parsed.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value


def check_http_url(cls: type, value: str) -> str:
    """A field validator: an http(s) URL with a host (and a valid port, if any)."""
    return _url(value, ("http", "https"))


def check_ws_url(cls: type, value: str) -> str:
    """A field validator: a ws(s) URL with a host (and a valid port, if any)."""
    return _url(value, ("ws", "wss"))


def _not_bool(value: Any) -> Any:
    """YAML and pydantic both take `true` for 1; a count or an amount given as a bool is a
    mistake (`max_open_sagas: true`), so it is refused instead."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "is a boolean, not a number")
    return value


_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")


def _host_port(value: str) -> str:
    match = _HOST_PORT.match(value)
    if match is None or int(match.group(2)) > 65535:
        raise ValueError("is not HOST:PORT with a port in 0..65535")
    return value


def _host_ports(value: str) -> str:
    for address in filter(None, value.split(",")):
        _host_port(address.strip())
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
"""An integer field: lax about `"9"` from the environment, strict about booleans."""
Seconds = Annotated[float, BeforeValidator(_not_bool)]
"""A duration in seconds (finite: sections refuse NaN and infinity)."""
Amount = Annotated[Decimal, BeforeValidator(_not_bool), Field(decimal_places=6,
                                                              allow_inf_nan=False)]
"""Dollars or contracts as a decimal with at most 6 places: converted once to integer
micro-units, so the micro-unit conversion can never fail later on the trading path."""
Address = Annotated[str, AfterValidator(_host_port)]
"""A gRPC peer, HOST:PORT."""
TierName = Literal["paper", "standard", "pro"]
# Named so the command line offers exactly these values (`arbiter run --bus/--clock/--execution`).
BusKind = Literal["memory", "kafka"]
MarketClock = Literal["lockstep", "free"]
SagaExecution = Literal["sequential", "parallel"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BusConfig(_Section):
    """The message bus: in-process for the embedded topology, Kafka (or tansu) otherwise."""

    kind: BusKind = Field("memory", description="memory: in-process; "
                                             "kafka: a Kafka-compatible broker.")
    kafka_bootstrap: Annotated[str, AfterValidator(_host_ports)] = Field(
        "", description="HOST:PORT[,HOST:PORT...] of the brokers; empty with `arbiter run "
        "--bus kafka` starts a tansu broker.")
    topic_prefix: str = Field("", pattern=r"^[a-z0-9.-]*$", description="Prefix of every topic "
                              "(the operator isolates tenants with `tenant-<name>.`).")
    fetch_max_wait_ms: Int = Field(10, ge=2, le=1000, description="Consumer fetch wait, ms: "
                                   "tansu answers a fetch only when it expires; 10 ms keeps "
                                   "p99 near 20 ms.")
    session_timeout_ms: Int = Field(10_000, ge=1000, le=300_000, description="Consumer group "
                                    "session timeout, ms (tansu joins in about half of it).")
    partitions: Int = Field(4, ge=1, le=64, description="Partitions per topic created.")
    max_outage_s: Int = Field(10, ge=1, le=3600, description="A broker out of reach this "
                              "long latches the HardStop (no new risk) and alerts.")
    request_timeout_ms: Int = Field(10_000, ge=1000, le=120_000, description="Deadline of a "
                                    "produce request: an unacked send fails after it and "
                                    "its input is redelivered.")


class TenantConfig(_Section):
    """Whose execution plane this is, and the subscription tier that caps its limits."""

    id: str = Field("default", pattern=TENANT_ID_PATTERN, description="Tenant id: lower-case "
                    "letters, digits and hyphens, 1-63 characters (the Tenant's name).")
    tier: TierName = Field("paper", description="Subscription tier; caps pairs, orders per "
                           "second, exposure and open sagas (docs/multi-tenancy.md).")


class VenueSettings(_Section):
    """The base of a venue's own section, `venues.<slug>`: each venue plugin extends it with
    its endpoints, credential names and protocol options (and pins `venue` to its slug)."""

    venue: str


class MarketLeg(_Section):
    """The base of one leg of a pair: one binary market on one venue. Each venue plugin
    extends it with the identifiers and trading rules of its markets."""

    venue: str


class _PluginModel:
    """Validates a mapping with the model its `venue` names in the venue registry (the
    plugin's `settings_model` or `market_model`), so the set of venues stays open: a venue
    registered at run time is validated like a built-in one. Errors keep their field path."""

    def __init__(self, attribute: str, base: type[_Section]) -> None:
        self.attribute = attribute
        self.base = base

    def _model(self, venue: object) -> type[BaseModel]:
        try:
            return getattr(VENUES.get(venue), self.attribute)  # type: ignore[arg-type]
        except UnknownVenue as exc:
            raise PydanticCustomError("unknown_venue", "{reason}", {"reason": str(exc)}) from None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> BaseModel:
            if isinstance(value, self.base):
                model = self._model(value.venue)
                return value if isinstance(value, model) else model.model_validate(
                    value.model_dump())
            if not isinstance(value, Mapping):
                raise PydanticCustomError("mapping", "must be a mapping with a `venue` key, "
                                          "was {kind}", {"kind": type(value).__name__})
            if "venue" not in value:
                raise PydanticCustomError("venue_missing", "names no venue (`venue: <slug>`; "
                                          "registered: {known})",
                                          {"known": ", ".join(VENUES.slugs())})
            return self._model(value["venue"]).model_validate(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(
                lambda model: model.model_dump(mode="json")))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"oneOf": [getattr(plugin, self.attribute).model_json_schema()
                          for plugin in VENUES]}


Leg = Annotated[MarketLeg, _PluginModel("market_model", MarketLeg)]
VenueSection = Annotated[VenueSettings, _PluginModel("settings_model", VenueSettings)]


class PairConfig(_Section):
    """The same event on two markets, each on any venue (the same venue too)."""

    pair_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Unique name of "
                         "the pair (a DNS label).")
    a: Leg = Field(description="Leg A: a market on any registered venue (`venue: <slug>` and "
                   "that venue's market fields).")
    b: Leg = Field(description="Leg B: a market on any registered venue, the same one too.")
    inverted: bool = Field(False, description="True when B's YES pays out exactly when A's "
                           "NO does.")


DEFAULT_PAIRS: tuple[dict[str, Any], ...] = tuple(
    {
        "pair_id": name,
        "a": {"venue": "polymarket", "condition_id": f"0x{i + 1:064x}",
              "yes_token": str(10**20 + 2 * i), "no_token": str(10**20 + 2 * i + 1)},
        "b": {"venue": "kalshi", "ticker": f"KX{name.upper().replace('-', '')}"},
        "inverted": i == 3,
    }
    for i, name in enumerate(("fed-cut-dec", "btc-100k-eoy", "election-turnout", "cpi-above-3"))
)
"""The demo market of the embedded default: four events listed on both built-in venues."""


def _default_pairs() -> list[PairConfig]:
    return [PairConfig.model_validate(pair) for pair in DEFAULT_PAIRS]


Latency = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=10_000)]
"""A venue delay in whole milliseconds (the emulated link, free clock only)."""
LATENCY_FIELDS = tuple(f"{endpoint}_{part}_ms" for endpoint in ("place", "cancel", "read", "push")
                       for part in ("latency", "jitter"))


class MarketConfig(_Section):
    """The market pairs traded, and the emulated market of the embedded topology and
    `arbiter emulator`."""

    seed: Int = Field(7, ge=0, le=2**63 - 1, description="Seed of the synthetic market "
                      "(and of the emulated venues' latency jitter).")
    step_ms: Int = Field(50, ge=1, le=60_000, description="Synthetic market step, ms.")
    clock: MarketClock = Field("lockstep", description="Embedded topology: "
                                               "lockstep processes each market step fully "
                                               "before the next on simulated time "
                                               "(deterministic); free steps the market on the "
                                               "wall clock while the engine runs concurrently "
                                               "(see docs/running.md).")
    lifetime_steps: Int = Field(2_400, ge=0, le=10**9, description="Synthetic market: how "
                                "many steps a pair's markets trade before they close and "
                                "resolve. The configured pairs resolve one after another "
                                "(the k-th of n at k x lifetime / n); 0: they never do.")
    auto_merge: bool = Field(False, description="Emulated venues, paper: the wallet merges "
                             "every complete YES+NO set back to $1 of collateral as the venue "
                             "publishes (Polymarket's on-chain CTF merge, as a merging bot "
                             "sends it); the engine reads the merges from the Data API's "
                             "activity feed and realizes them. A netting venue (Kalshi) "
                             "does this at every fill anyway.")
    relist: bool = Field(True, description="Synthetic market: when a pair resolves, list its "
                         "successor (the same event's next instance, new market ids on both "
                         "venues, living lifetime_steps), which the embedded engine starts "
                         "trading at once; false: once every pair has resolved nothing is "
                         "left to trade. `arbiter emulator` relists too, but an engine on "
                         "venues in another process trades only its configured pairs.")
    pairs: list[PairConfig] = Field(default_factory=_default_pairs, min_length=1,
                                    max_length=500, description="The approved market pairs "
                                    "(default: a four-pair demo market on both venues).")
    place_latency_ms: Latency = Field(0, description="In-process venues, free clock only: "
                                      "round trip of an order placement, ms (the venue acts "
                                      "half way).")
    place_jitter_ms: Latency = Field(0, description="Uniform extra 0..jitter ms on each "
                                     "placement.")
    cancel_latency_ms: Latency = Field(0, description="Round trip of a cancel, ms.")
    cancel_jitter_ms: Latency = Field(0, description="Uniform extra 0..jitter ms on a cancel.")
    read_latency_ms: Latency = Field(0, description="Round trip of any other REST call "
                                     "(reads, lookups), ms.")
    read_jitter_ms: Latency = Field(0, description="Uniform extra 0..jitter ms on a read.")
    push_latency_ms: Latency = Field(0, description="One-way delay of a WebSocket frame "
                                     "(books, fills), ms; frames stay in order.")
    push_jitter_ms: Latency = Field(0, description="Uniform extra 0..jitter ms on a frame.")

    @model_validator(mode="after")
    def _latency_needs_the_free_clock(self) -> MarketConfig:
        if self.clock == "lockstep":
            delayed = [f"market.{name}={getattr(self, name)}" for name in LATENCY_FIELDS
                       if getattr(self, name)]
            if delayed:
                raise ValueError(f"{', '.join(delayed)} needs market.clock=free: a lock-step "
                                 "step is processed instantly, so a delay cannot apply")
        return self


class DetectorConfig(_Section):
    """Opportunity detection: sizing against depth and the profit an opportunity must clear."""

    max_qty: Amount = Field(Decimal(200), gt=0, le=1_000_000, description="Largest size of "
                            "one opportunity, contracts.")
    min_profit_usd: Amount = Field(Decimal("0.05"), ge=0, le=1_000_000, description="Least "
                                   "profit after fees an opportunity must lock in, dollars.")
    ttl_ms: Int = Field(500, ge=1, le=60_000, description="How long an opportunity may be "
                        "acted on after detection, ms.")
    depth_levels: Int = Field(10, ge=1, le=100, description="Book levels sizing walks.")
    max_book_age_ms: Int = Field(120_000, ge=0, le=86_400_000, description="A book the "
                                 "venue sent nothing for in this long is not traded on "
                                 "until it does (a silently lost subscription); 0: no "
                                 "limit. Raise it for quiet markets.")

    @property
    def max_qty_micros(self) -> int:
        return qty_from_decimal(self.max_qty)

    @property
    def min_profit_micros(self) -> int:
        return money_from_decimal(self.min_profit_usd)


_CONTRACTS = 1_000_000_000  # the largest position any limit may allow, contracts
_DOLLARS = 1_000_000_000  # the largest amount any money limit may allow, dollars


class RiskConfig(_Section):
    """One tenant's risk limits and HardStop thresholds (see docs/risk.md).

    Sizes are contracts and money dollars, as decimal strings with at most 6 decimals; the
    risk service converts them once to integer micro-units. Runtime changes go through
    `updated`, so a change is validated exactly like the file.
    """

    max_position_per_market: Amount = Field(Decimal(2000), gt=0, le=_CONTRACTS, description=
                                            "Position per market outcome, contracts.")
    max_position_total: Amount = Field(Decimal(8000), gt=0, le=_CONTRACTS, description=
                                       "Position over all markets, contracts; at least "
                                       "max_position_per_market.")
    max_exposure_usd: Amount = Field(Decimal(5000), gt=0, le=_DOLLARS, description="Capital "
                                     "at risk, dollars.")
    max_open_sagas: Int = Field(4, ge=1, le=1000, description="Sagas in flight at once.")
    orders_per_second: Int = Field(20, ge=1, le=1000, description="Order-rate budget refill, "
                                   "orders per second.")
    order_burst: Int = Field(40, ge=2, le=100_000, description="Order-rate budget depth, "
                             "orders; a saga takes one order per leg.")
    max_cumulative_loss_usd: Amount = Field(Decimal(1000), gt=0, le=_DOLLARS, description=
                                            "Realized loss since start that latches HardStop, "
                                            "dollars.")
    max_daily_loss_usd: Amount = Field(Decimal(250), gt=0, le=_DOLLARS, description="Realized "
                                       "loss in one trading day that latches HardStop, "
                                       "dollars.")
    max_consecutive_losses: Int = Field(5, ge=1, le=1000, description="Losing sagas in a row "
                                        "that latch HardStop.")
    max_failed_unwinds: Int = Field(1, ge=1, le=1000, description="Sagas ending HELD that "
                                    "latch HardStop.")
    max_rejections_per_hour: Int = Field(60, ge=0, le=100_000, description="Venue order "
                                         "rejections per hour that latch HardStop.")
    slippage_threshold_usd: Amount = Field(Decimal("0.02"), ge=0, le=1, description="Fill "
                                           "price worse than expected by more than this, "
                                           "dollars per contract, counts as slippage.")
    max_slippage_streak: Int = Field(3, ge=1, le=1000, description="Slipped fills in a row "
                                     "that latch HardStop.")
    min_free_balance_usd: Amount = Field(Decimal(0), ge=0, le=_DOLLARS, description="Cash "
                                         "every venue keeps free: no saga spends it, and a "
                                         "balance under it drops trading readiness.")
    trading_day_start: str = Field("00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                   description="When the trading day (daily loss) starts, "
                                   "HH:MM.")
    trading_day_timezone: str = Field("UTC", description="IANA time zone of "
                                      "trading_day_start.")

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


class HedgeStepConfig(_Section):
    """One step of the hedge ladder: what the saga sends when leg 2 is still short.

    `retry` resends leg 2 at its limit, `chase` resends it `ticks` ticks worse (never past
    break-even), `unwind` buys leg 1's complement on leg 1's own market.
    """

    strategy: Literal["retry", "chase", "unwind"] = Field(
        description="retry, chase (`ticks` worse) or unwind.")
    ticks: Int = Field(0, ge=0, le=100, description="How many ticks worse a chase resends "
                       "leg 2 (chase only).")

    @model_validator(mode="after")
    def _ticks_only_for_a_chase(self) -> HedgeStepConfig:
        if self.strategy == "chase" and self.ticks < 1:
            raise ValueError("a chase step needs ticks >= 1 (a resend at the limit is 'retry')")
        if self.strategy != "chase" and self.ticks:
            raise ValueError(f"ticks={self.ticks} is only for a chase step, not "
                             f"{self.strategy!r}")
        return self


def _default_ladder() -> list[HedgeStepConfig]:
    return [HedgeStepConfig(strategy="retry"), HedgeStepConfig(strategy="chase", ticks=1),
            HedgeStepConfig(strategy="chase", ticks=2), HedgeStepConfig(strategy="unwind")]


class SagaConfig(_Section):
    """The two-leg execution orchestrator."""

    execution: SagaExecution = Field(
        "sequential", description="sequential: leg 2 is sent once leg 1 has filled, sized to "
        "its fills; parallel: both legs at once at the approved size, the same hedge ladder "
        "for whichever side fell short (see docs/saga.md).")
    leg2_slack_ticks: Int = Field(0, ge=0, le=100, description="Sequential execution: "
                                  "leg 2's first order may pay up to this many ticks over "
                                  "the price it was detected at (capped at break-even against "
                                  "what leg 1 paid, fees in), for a book that moved while leg "
                                  "1 was out; an IOC still fills at the book's own price.")
    leg_timeout_ms: Int = Field(2_000, ge=1, le=600_000, description="An order whose outcome "
                                "has not arrived after this long, ms, is looked up at the "
                                "venue.")
    hedge_ladder: list[HedgeStepConfig] = Field(
        default_factory=_default_ladder, min_length=1, max_length=16,
        description="Compensation, one order per step while leg 2 is short of leg 1 (see "
                    "docs/saga.md). It must end in an unwind, so every saga can end flat; when "
                    "the unwind too falls short the saga is held and an alert raised.")
    log_path: str = Field(":memory:", description="SQLite saga log: ':memory:' suits the "
                          "embedded default, whose venues live in the same process; give a "
                          "file when the venues outlive the engine (`arbiter emulator`).")
    peers_timeout_s: Seconds = Field(120.0, gt=0, le=3600, description="`arbiter serve saga` "
                                     "waits this long, seconds, for risk and the gateways "
                                     "before recovering.")

    @field_validator("hedge_ladder")
    @classmethod
    def _ladder_ends_in_an_unwind(cls, v: list[HedgeStepConfig]) -> list[HedgeStepConfig]:
        steps = [step.strategy if step.strategy != "chase" else f"chase+{step.ticks}"
                 for step in v]
        first_unwind = next((i for i, step in enumerate(v) if step.strategy == "unwind"), None)
        if first_unwind is None:
            raise ValueError(f"{steps} has no 'unwind' step: a saga whose leg 2 never fills "
                             "could not end flat")
        if any(step.strategy != "unwind" for step in v[first_unwind:]):
            raise ValueError(f"{steps} resends leg 2 after an unwind: the unwind must be last")
        return v


class GrpcConfig(_Section):
    """Where this process serves gRPC and where its peers are."""

    host: str = Field("0.0.0.0", description="Interface this process serves gRPC on (a "
                      "pod: its IP, or 0.0.0.0; behind a sidecar: 127.0.0.1).")
    port: Int = Field(50051, ge=0, le=65535, description="Port this process serves gRPC on "
                      "(0: any free port).")
    risk_addr: Address = Field("127.0.0.1:50051", description="The risk service, HOST:PORT.")
    gateway_addrs: dict[str, Address] = Field(default_factory=dict, description="Each venue's "
                                              "gateway by venue slug, HOST:PORT; a venue not "
                                              "listed is at default_gateway_addr.")
    default_gateway_addr: Address = Field("127.0.0.1:50051", description="A gateway not in "
                                          "gateway_addrs, HOST:PORT.")
    vault_addr: Address = Field("127.0.0.1:50051", description="The vault service, HOST:PORT.")
    control_addr: Address = Field("127.0.0.1:50051", description="The control service, "
                                  "HOST:PORT.")

    @field_validator("gateway_addrs")
    @classmethod
    def _known_venues(cls, v: dict[str, str]) -> dict[str, str]:
        for slug in v:
            VENUES.get(slug)
        return v

    def gateway_addr(self, venue: str) -> str:
        return self.gateway_addrs.get(venue, self.default_gateway_addr)


class HealthConfig(_Section):
    """The HTTP endpoint with /healthz, /readyz and /metrics."""

    host: str = Field("0.0.0.0", description="Interface to listen on.")
    port: Int = Field(8080, ge=0, le=65535, description="Port (0: any free port).")


class StoreConfig(_Section):
    """PostgreSQL for the distributed topology: `dsn` logs in as the tenant's own role, which
    the database maps to the tenant (row-level security applies; `python -m
    arbiter.platform.store tenant add`), `migrate_dsn` as the owner that runs migrations at
    start. `{tenant}` and `{role}` in `dsn` are replaced by the tenant id and its role's name,
    so one template (with a libpq `passfile`) serves several tenants."""

    dsn: SecretStr = Field(SecretStr(""), description="The tenant role's DSN (or a template "
                           "with {tenant}/{role}); the store refuses one whose role maps to "
                           "another tenant. Empty: SQLite.")
    migrate_dsn: SecretStr = Field(SecretStr(""), description="Owner-role DSN for migrations.")
    pool_min: Int = Field(1, ge=0, le=64, description="Connections kept open.")
    pool_max: Int = Field(8, ge=1, le=256, description="Connections at most; at least "
                          "pool_min.")

    @model_validator(mode="after")
    def _pool_order(self) -> StoreConfig:
        if self.pool_min > self.pool_max:
            raise ValueError(f"store.pool_min={self.pool_min} exceeds store.pool_max="
                             f"{self.pool_max}")
        return self


class TlsConfig(_Section):
    """Mutual TLS between the services of the distributed topology: each process serves and
    calls with its own certificate (CN = the service, O = the tenant), signed by the
    plane's CA; servers refuse callers the method does not allow (`platform.peers`). All
    three paths or none; none serves and calls in plaintext, unauthenticated."""

    ca_path: str = Field("", description="PEM of the CA that signs the plane's service "
                         "certificates.")
    cert_path: str = Field("", description="PEM of this process's certificate.")
    key_path: str = Field("", description="PEM of this process's private key.")

    @model_validator(mode="after")
    def _all_or_none(self) -> TlsConfig:
        given = [bool(self.ca_path), bool(self.cert_path), bool(self.key_path)]
        if any(given) and not all(given):
            missing = [name for name, ok in zip(("ca_path", "cert_path", "key_path"), given,
                                                strict=True) if not ok]
            raise ValueError(f"tls needs ca_path, cert_path and key_path together; missing: "
                             f"{', '.join(missing)}")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.cert_path)


class ControlConfig(_Section):
    """The control API of the embedded topology (`arbiter run`; a cluster's control service
    serves on `grpc.port`). It listens on loopback and announces itself, with a token of the
    local operator, in an endpoint file only its owner can read, which `arbiter ctl` finds."""

    serve: bool = Field(True, description="Serve the control API during `arbiter run`.")
    host: str = Field("127.0.0.1", description="Interface to listen on (loopback: only "
                      "this machine's users may try a token).")
    port: Int = Field(0, ge=0, le=65535, description="Port (0: any free port, announced in "
                      "the endpoint file).")
    endpoint_file: str = Field("", description="Where to announce the address and token "
                               "(empty: $ARBITER_CONTROL_FILE, else "
                               "$XDG_RUNTIME_DIR/arbiter/control-<tenant>.json, else "
                               "~/.arbiter/control-<tenant>.json).")
    token_ttl_seconds: Int = Field(7 * 24 * 3600, ge=60, le=366 * 24 * 3600,
                                   description="Lifetime of the local operator's token.")


class AuthConfig(_Section):
    """How the control API verifies callers' JWTs (HS256 secret and/or RS256 public key)."""

    hs256_secret: SecretStr = Field(SecretStr(""), description="HS256 shared secret.")
    rs256_public_key_path: str = Field("", description="PEM file of the RS256 public key.")
    leeway_seconds: Int = Field(0, ge=0, le=300, description="Clock skew allowed on exp/nbf, "
                                "seconds.")

    def public_key(self) -> bytes | None:
        """The RS256 public key's bytes (None when not configured); `ConfigError` names the
        field when the file cannot be read, instead of a traceback at start."""
        if not self.rs256_public_key_path:
            return None
        try:
            return Path(self.rs256_public_key_path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"auth.rs256_public_key_path={self.rs256_public_key_path!r}: "
                              f"cannot read the key file ({exc.strerror})") from None


class VaultConfig(_Section):
    """Where the vault service keeps credentials and which key backend wraps them.

    `store_dsn` is PostgreSQL as the `arbiter_vault` role (the distributed topology: every
    replica shares it, row-level security per tenant); empty keeps the SQLite file
    `store_path`. It is not `store.dsn`: tenant roles may not read sealed credentials."""

    backend: Literal["local", "transit"] = Field("local", description="local: a keyring "
                                                 "file; transit: HashiCorp Vault Transit.")
    store_path: str = Field("arbiter-vault.db", description="SQLite credential store.")
    store_dsn: SecretStr = Field(SecretStr(""), description="PostgreSQL DSN as arbiter_vault.")
    master_secret_path: str = Field("", description="local backend: a 0600 file of 32+ "
                                    "random bytes.")
    addr: str = Field("", description="transit backend: the Vault (or OpenBao) server URL; "
                      "the token, for development only, comes from VAULT_TOKEN alone.")
    role: str = Field("", description="transit backend: the Kubernetes-auth role.")
    transit_key: str = Field("arbiter-credentials", description="transit backend: the key.")
    transit_mount: str = Field("transit", description="transit backend: the mount.")
    tenant_configs: list[str] = Field(default_factory=list, description="Config files of the "
                                      "further tenants this vault signs for, one per tenant "
                                      "(its pairs and risk limits bound what it may have "
                                      "signed); the configured tenant always is one.")


def _venue_sections_schema(schema: dict[str, Any]) -> None:
    """A venue's section is written `venues.<slug>` (see `_collect_sections`), so the JSON
    schema shows one property per registered venue, from its plugin, instead of `sections`."""
    properties = schema["properties"]
    properties.pop("sections", None)
    for plugin in VENUES:
        section = plugin.settings_model.model_json_schema()
        if "$defs" in section:
            raise TypeError(f"{plugin.slug}: a venue section must be flat (no nested models)")
        section["properties"].pop("venue", None)
        section["required"] = [k for k in section.get("required", []) if k != "venue"]
        properties[plugin.slug] = section


class VenuesConfig(_Section):
    """How gateways reach the venues, and each venue's own section (`venues.<slug>`, whose
    fields its plugin defines: URLs, credential names, protocol options).

    `mode: paper` trades throwaway keys against the emulators (in process, or an
    `arbiter emulator --open-registration` at the configured URLs); `live` keeps the keys
    in the vault service (`grpc.vault_addr`), which signs for the gateways. `dry_run` builds,
    signs, logs and counts every order and sends none (the venue answers a reject)."""

    model_config = ConfigDict(json_schema_extra=_venue_sections_schema)

    mode: Literal["paper", "live"] = Field("paper", description="paper: throwaway keys "
                                           "against emulators; live: keys in the vault.")
    dry_run: bool = Field(False, description="Build, sign, log and count every order; send "
                          "none.")
    ws_ping_interval_s: Seconds = Field(10.0, gt=0, le=60, description="WebSocket ping "
                                        "interval, seconds.")
    balance_refresh_s: Seconds = Field(30.0, ge=1, le=3600, description="How often each "
                                       "gateway re-reads its venue balance for risk "
                                       "(besides at start and shortly after our fills).")
    request_timeout_s: Seconds = Field(5.0, gt=0, le=60, description="Venue HTTP request "
                                       "timeout, seconds.")
    sections: dict[str, VenueSection] = Field(default_factory=dict, description="Each "
                                              "venue's section, written venues.<slug>.")

    @model_validator(mode="before")
    @classmethod
    def _collect_sections(cls, data: Any) -> Any:
        """Every key that is not a field above is a venue's section, named by its slug."""
        if not isinstance(data, Mapping):
            return data
        own = set(cls.model_fields)
        sections = dict(data.get("sections") or {})
        for key, value in data.items():
            if key not in own:
                if key not in VENUES:
                    raise PydanticCustomError(
                        "unknown_venue_section", "'{key}' is neither a setting ({own}) nor a "
                        "registered venue ({known})",
                        {"key": key, "own": ", ".join(sorted(own - {"sections"})),
                         "known": ", ".join(VENUES.slugs())})
                sections[key] = ({**value, "venue": key} if isinstance(value, Mapping)
                                 else value)
        return {**{k: v for k, v in data.items() if k in own}, "sections": sections}

    def settings(self, venue: str) -> VenueSettings:
        """The section of `venue`, or its plugin's defaults when none was given."""
        found = self.sections.get(venue)
        if found is not None:
            return found
        model = VENUES.get(venue).settings_model
        return model.model_validate({"venue": venue})  # type: ignore[return-value]

    @property
    def paper(self) -> bool:
        return self.mode == "paper"


class ArbiterConfig(BaseSettings):
    """The whole configuration. Its `model_config` is the environment contract
    (`ARBITER__SECTION__KEY`, nested by `__`, any case), read by `load_config`; building the
    model directly (`ArbiterConfig()`, `model_validate`) reads no environment at all, so
    defaults stay defaults in tests."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False,
        extra="forbid", frozen=True, allow_inf_nan=False)

    bus: BusConfig = Field(default_factory=BusConfig)
    tenant: TenantConfig = Field(default_factory=TenantConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    saga: SagaConfig = Field(default_factory=SagaConfig)
    grpc: GrpcConfig = Field(default_factory=GrpcConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    venues: VenuesConfig = Field(default_factory=VenuesConfig)
    vault: VaultConfig = Field(default_factory=VaultConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: the file and environment come in through `load_config`, which
        layers them strictly (see `_merge`)."""
        return (init_settings,)

    @model_validator(mode="after")
    def _within_tier(self) -> ArbiterConfig:
        """A tenant's configuration may not ask for more than its subscription tier allows."""
        try:
            tier_named(self.tenant.tier).check(self.tenant.id, TenantLimits(
                pairs=len(self.market.pairs),
                orders_per_second=self.risk.orders_per_second,
                max_exposure_usd=self.risk.max_exposure_usd,
                max_open_sagas=self.risk.max_open_sagas,
            ))
        except TierLimitExceeded as exc:
            path = _TIER_LIMITS[exc.limit]
            given = f"{exc.value} pairs" if exc.limit == "pairs" else exc.value
            raise ValueError(f"tenant {exc.tenant_id!r} on tier {exc.tier!r}: {path}={given} "
                             f"exceeds the tier's cap of {exc.cap}") from None
        return self


_TIER_LIMITS = {"pairs": "market.pairs", "orders_per_second": "risk.orders_per_second",
                "max_exposure_usd": "risk.max_exposure_usd",
                "max_open_sagas": "risk.max_open_sagas"}
"""Where each `TenantLimits` field is set in the config, to name it in a tier error."""


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of `os.environ`,
    so tests and the operator can load a pod's environment without being that pod."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(ArbiterConfig)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._given.items()}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The `ARBITER__…` variables as nested data; a name that names no setting is refused
    here, since pydantic-settings would skip it silently."""
    ours = {k: v for k, v in environ.items() if k.upper().startswith(ENV_PREFIX)}
    sections = sorted(ArbiterConfig.model_fields)
    for name in ours:
        parts = name[len(ENV_PREFIX):].split("__")
        if not all(parts):
            raise ConfigError(f"environment variable {name} names no setting (write "
                              f"{ENV_PREFIX}<SECTION>__<KEY>, sections: {', '.join(sections)})")
        if parts[0].lower() not in ArbiterConfig.model_fields:
            raise ConfigError(f"environment variable {name}: {parts[0].lower()!r} is not a "
                              f"section (sections: {', '.join(sections)})")
    if not ours:  # the common case in tests and simulations; the source costs ~0.4 ms
        return {}
    try:
        return _Environment(ours)()
    except SettingsError as exc:
        raise ConfigError(f"environment: {_one_line(exc)} (a section or list set by one "
                          "variable takes JSON)") from None


def _nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`{"bus.kind": "kafka"}` as `{"bus": {"kind": "kafka"}}`, refusing contradictions."""
    result: dict[str, Any] = {}
    for dotted, value in overrides.items():
        node: Any = value
        for part in reversed(dotted.split(".")):
            node = {part: node}
        _merge(result, node, "the command line")
    return result


def _merge(base: dict[str, Any], top: Mapping[str, Any], source: str,
           path: tuple[str, ...] = ()) -> None:
    """Lay `top` over `base` in place. A mapping set below a key that `base` holds as a
    scalar (`bus: 5` in the file, then `--bus kafka`) is a `ConfigError` naming that key:
    replacing the scalar silently would hide the file's mistake."""
    for key, value in top.items():
        here = (*path, str(key))
        current = base.get(key)
        if isinstance(value, Mapping) and current is not None:
            if not isinstance(current, dict):
                below = ", ".join(f"{'.'.join(here)}.{k}" for k in value)
                raise ConfigError(f"{'.'.join(here)}={current!r} is not a section, so "
                                  f"{source} cannot set {below}")
            _merge(current, value, source, here)
        elif isinstance(value, Mapping):
            base[key] = {}
            _merge(base[key], value, source, here)
        else:
            base[key] = value


def _describe(error: Mapping[str, Any]) -> str:
    if not error["loc"]:  # a whole-config rule (the tier check): its message names the keys
        return _one_line(str(error["msg"]).removeprefix("Value error, "))
    # a venue's section is validated under `venues.sections.<slug>`, but written `venues.<slug>`
    loc = [p for i, p in enumerate(error["loc"])
           if not (p == "sections" and i and error["loc"][i - 1] == "venues")]
    key = ".".join(str(p) for p in loc)
    given = error.get("input")
    return _one_line(f"{key}={given!r:.200}: {error['msg']}")


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {_one_line(exc)}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{where} must hold a mapping, not {type(loaded).__name__}")
    return loaded or {}


def _read(path: str | Path) -> dict[str, Any]:
    where = f"config file {path}"
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text (byte {exc.start}): is it a binary "
                          "file?") from None
    return _parse(text, where)


def _validated(document: dict[str, Any], environ: Mapping[str, str],
               overrides: Mapping[str, Any] | None) -> ArbiterConfig:
    data: dict[str, Any] = {}
    _merge(data, document, "the config file")
    _merge(data, _environment(environ), "the environment")
    _merge(data, _nested(overrides or {}), "the command line")
    try:
        return ArbiterConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ArbiterConfig:
    """Build and validate the configuration: the YAML file (`path`, else `$ARBITER_CONFIG`),
    then `ARBITER__…` variables of `environ` (default `os.environ`), then `overrides`
    (dotted keys, the command line), each over the one before. Raise `ConfigError`, one line
    naming every bad key, for anything that does not validate."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("ARBITER_CONFIG") or None
    return _validated(_read(path) if path else {}, environ, overrides)


@dataclass(frozen=True, slots=True)
class ConfigValue:
    """One effective setting, as `arbiter config show` prints it: its dotted key, its value
    (secrets masked, as pydantic dumps a `SecretStr`) and the layer that set it."""

    key: str
    value: Any
    source: str  # "default", "file", "environment" or "command line"


def explain_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> list[ConfigValue]:
    """Every effective setting with where it came from: `load_config`'s layers, each leaf
    credited to the last layer that named it (a list, such as `market.pairs`, is one leaf).
    Raises `ConfigError` as `load_config` does."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("ARBITER_CONFIG") or None
    document = _read(path) if path else {}
    config = _validated(document, environ, overrides)
    layers = (("file", document), ("environment", _environment(environ)),
              ("command line", _nested(overrides or {})))
    sources: dict[str, str] = {}
    for name, layer in layers:
        sources.update((key, name) for key in _leaves(layer))
    return [ConfigValue(key, value, sources.get(key, "default"))
            for key, value in sorted(_leaves(config.model_dump(mode="json")).items())]


def _leaves(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; anything else (lists too) is a leaf."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_leaves(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def config_from_text(text: str, environ: Mapping[str, str], where: str = "config") -> ArbiterConfig:
    """`load_config` for a config file's text already in hand (the operator checks what its
    ConfigMap and Deployments would give a pod without writing files)."""
    return _validated(_parse(text, where), environ, None)

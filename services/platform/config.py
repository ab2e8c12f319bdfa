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
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
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

    pair_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    a: Leg
    b: Leg
    # True when B's YES pays out exactly when A's NO does.
    inverted: bool = False


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


class MarketConfig(_Section):
    """The emulated market used by the embedded topology and `arbiter emulator`."""

    seed: int = 7
    step_ms: int = Field(50, ge=1, le=60_000)
    pairs: list[PairConfig] = Field(default_factory=_default_pairs, min_length=1)


class DetectorConfig(_Section):
    max_qty: Decimal = Field(Decimal(200), gt=0)
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

    max_position_per_market: Decimal = Field(Decimal(2000), gt=0)  # per market outcome
    max_position_total: Decimal = Field(Decimal(8000), gt=0)  # all markets together
    max_exposure_usd: Decimal = Field(Decimal(5000), gt=0)  # capital at risk
    max_open_sagas: int = Field(4, ge=1)
    orders_per_second: int = Field(20, ge=1)  # order-rate budget refill
    order_burst: int = Field(40, ge=2)  # budget depth; a saga takes one order per leg
    max_cumulative_loss_usd: Decimal = Field(Decimal(1000), gt=0)
    max_daily_loss_usd: Decimal = Field(Decimal(250), gt=0)
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


class HedgeStepConfig(_Section):
    """One step of the hedge ladder: what the saga sends when leg 2 is still short.

    `retry` resends leg 2 at its limit, `chase` resends it `ticks` ticks worse (never past
    break-even), `unwind` buys leg 1's complement on leg 1's own market.
    """

    strategy: Literal["retry", "chase", "unwind"]
    ticks: int = Field(0, ge=0, le=100)

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
    # An order whose outcome has not arrived after this long is looked up at the venue.
    leg_timeout_ms: int = Field(2_000, ge=1)
    # Compensation, one order per step while leg 2 is short of leg 1 (see docs/saga.md).
    # It must end in an unwind, so every saga can end flat; when the unwind too falls
    # short the saga is held and an alert raised.
    hedge_ladder: list[HedgeStepConfig] = Field(default_factory=_default_ladder,
                                                min_length=1, max_length=16)
    # Durable saga log: ':memory:' suits the embedded default, whose venues live in the same
    # process; give a file when the venues outlive the engine (`arbiter emulator`).
    log_path: str = ":memory:"
    # `arbiter serve saga` waits this long for risk and both gateways before recovering.
    peers_timeout_s: float = Field(120.0, gt=0, le=3600)

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
    port: int = Field(50051, ge=0, le=65535)
    risk_addr: str = "127.0.0.1:50051"
    # each venue's gateway by venue slug; a venue not listed is at `default_gateway_addr`
    gateway_addrs: dict[str, str] = Field(default_factory=dict)
    default_gateway_addr: str = "127.0.0.1:50051"
    vault_addr: str = "127.0.0.1:50051"
    control_addr: str = "127.0.0.1:50051"

    @field_validator("gateway_addrs")
    @classmethod
    def _known_venues(cls, v: dict[str, str]) -> dict[str, str]:
        for slug in v:
            VENUES.get(slug)
        return v

    def gateway_addr(self, venue: str) -> str:
        return self.gateway_addrs.get(venue, self.default_gateway_addr)


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


class VenuesConfig(_Section):
    """How gateways reach the venues, and each venue's own section (`venues.<slug>`, whose
    fields its plugin defines: URLs, credential names, protocol options).

    `mode: paper` trades throwaway keys against the emulators (in process, or an
    `arbiter emulator --open-registration` at the configured URLs); `live` keeps the keys
    in the vault service (`grpc.vault_addr`), which signs for the gateways. `dry_run` builds,
    signs, logs and counts every order and sends none (the venue answers a reject)."""

    mode: Literal["paper", "live"] = "paper"
    dry_run: bool = False
    ws_ping_interval_s: float = Field(10.0, gt=0, le=60)
    request_timeout_s: float = Field(5.0, gt=0, le=60)
    sections: dict[str, VenueSection] = Field(default_factory=dict)

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


class ArbiterConfig(_Section):
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
    # a venue's section is validated under `venues.sections.<slug>`, but written `venues.<slug>`
    loc = [p for i, p in enumerate(error["loc"])
           if not (p == "sections" and i and error["loc"][i - 1] == "venues")]
    key = ".".join(str(p) for p in loc)
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

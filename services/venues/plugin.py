"""The venue plugin contract: what one venue package gives the rest of Arbiter.

Every venue package has the same shape (see `docs/extending.md`): pure protocol codecs,
its config section and market-leg models, a gateway (a `VenueGateway`), an emulator (an
`EmulatedVenue`) speaking the venue's wire protocol, its rate-limit table, onboarding,
connectivity checks, the credential kinds the vault keeps for it and its debugging CLI. The
package exposes one `VenuePlugin` and declares it in the `arbiter.venues` entry-point group;
the composition root, the emulators' socket server, `check-connectivity`, the vault and the
CLI read venues only through these hooks, so adding a venue touches no shared module.

Hooks are small on purpose: constructors and hooks open no sockets and start no tasks; the
gateway connects in `start()`, and credentials are obtained in `credentials()` once the
transport is up (paper keys are onboarded the way the venue hands them out; live keys stay
in the vault service, which signs for the gateway).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

import typer

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market
from arbiter.emulators.venue import EmulatedVenue
from arbiter.gateways.base import BookSink, ReportSink, VenueGateway
from arbiter.gateways.connectivity import (
    ChannelProbe,
    CheckResult,
    CredentialsUnavailable,
    Listing,
    NowMs,
    Remembered,
    judge_listing,
    judge_minimum,
    probe_channel,
    wall_ms,
)
from arbiter.gateways.dry_run import DryRunRules
from arbiter.gateways.http_transport import SocketEndpoints
from arbiter.gateways.nonces import SequentialNonceAllocator
from arbiter.gateways.scheduler import Timer
from arbiter.platform.clock import Clock
from arbiter.platform.config import MarketLeg, VenuesConfig, VenueSettings
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.platform.venues import VENUES
from arbiter.v1 import common_pb2
from arbiter.vault.client import SignerStubLike, VaultCredentialError
from arbiter.vault.credentials import CredentialKindSpec

S = TypeVar("S", bound=VenueSettings)
L = TypeVar("L", bound=MarketLeg)
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class ListedMarket(Generic[L]):
    """A market a tenant trades on this venue: the domain view, its config leg, its fees."""

    market: Market
    leg: L
    fees: FeeModel


@dataclass(frozen=True)
class VaultAccess:
    """How a live gateway reaches the tenant's keys: the vault's Signer API, as this tenant."""

    stub: SignerStubLike
    tenant: common_pb2.TenantContext


@dataclass(frozen=True)
class CredentialContext(Generic[S]):
    """What `credentials()` may use: the transport (for onboarding), this venue's section,
    the trading mode and, live, the vault."""

    mode: Literal["paper", "live"]
    transport: VenueTransport
    settings: S
    vault: VaultAccess | None = None


@dataclass(frozen=True)
class GatewayContext(Generic[S, L, C]):
    """Everything a gateway is built from; the composition root fills it the same way for
    the embedded and the distributed topology (only the transport differs)."""

    transport: VenueTransport
    markets: Sequence[ListedMarket[L]]
    credentials: C
    settings: S
    venues: VenuesConfig
    clock: Clock
    on_book: BookSink
    on_report: ReportSink
    timer: Timer | None = None
    nonces: SequentialNonceAllocator | None = None
    """The order-nonce allocator, for a venue that opts in (`VenuePlugin.nonce_window`)."""


class VenuePlugin(abc.ABC, Generic[S, L, C]):
    """One venue, as the venue-neutral system sees it. Subclasses set the class attributes
    and implement the hooks; `arbiter.venues.polymarket` and `arbiter.venues.kalshi` are
    the two models."""

    slug: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[VenueSettings]]
    market_model: ClassVar[type[MarketLeg]]
    nets_positions: ClassVar[bool] = False
    """Whether the venue nets YES against NO per market (Kalshi), or holds both (tokens)."""
    dry_run: ClassVar[DryRunRules]
    credential_kinds: ClassVar[Sequence[CredentialKindSpec]] = ()
    """The vault credential kinds of this venue (`arbiter vault put --kind <name>`): how
    each one's secret is checked and normalised, its public side, and what it signs."""
    nonce_window: ClassVar[int | None] = None
    """A venue whose orders carry a per-key sequential nonce opts in with how many nonces it
    accepts ahead of the last one it saw; its gateway then gets an optimistic allocator of
    that skip window in `GatewayContext.nonces` (`nonce_allocator`)."""

    # -- markets ---------------------------------------------------------------------------
    @abc.abstractmethod
    def market(self, leg: L) -> Market:
        """The domain market of a configured leg (id, tick, lot, outcome tokens)."""

    @abc.abstractmethod
    def fee_model(self, leg: L) -> FeeModel:
        """The taker fee model of a configured leg."""

    def listed(self, leg: L) -> ListedMarket[L]:
        return ListedMarket(self.market(leg), leg, self.fee_model(leg))

    @abc.abstractmethod
    def successor(self, leg: L, generation: int) -> L:
        """The `generation`-th next instance of `leg`'s market in the emulated market (new
        identifiers, same terms), listed when the one before it resolves; generation >= 2.
        Deterministic, so a seeded run lists the same markets every time."""

    @abc.abstractmethod
    async def add_market(self, gateway: VenueGateway, listed: ListedMarket[L]) -> None:
        """Start trading a market listed while the gateway runs: its books, fills and order
        rules join those it was built with, and its subscriptions survive a reconnect."""

    def nonce_allocator(self) -> SequentialNonceAllocator | None:
        """A fresh allocator for one gateway of a venue that opted in (None otherwise); the
        gateway seeds it from the venue, so a restart resyncs."""
        window = self.nonce_window
        return None if window is None else SequentialNonceAllocator(window)

    # -- the emulated venue ----------------------------------------------------------------
    @abc.abstractmethod
    def emulator(self) -> EmulatedVenue:
        """A fresh emulated venue with no markets; `EmulatedVenue.list_market` adds them."""

    def register_emulator_key(self, emulator: EmulatedVenue, key_id: str,
                              public_pem: bytes) -> None:
        """Tell this venue's emulator of a live API key, as the venue learns of one created
        in its UI (`arbiter emulator --register-key`). A `ValueError` says why not: by
        default the venue has no registered keys (its keys are derived, not registered)."""
        raise ValueError(f"{self.slug} keys are not registered with the venue")

    # -- reaching the venue ----------------------------------------------------------------
    @abc.abstractmethod
    def endpoints(self, settings: S, venues: VenuesConfig) -> SocketEndpoints:
        """Where the venue's REST API and WebSocket channels are, and how they keep alive."""

    @abc.abstractmethod
    def served_at(self, url: str, ws_urls: Mapping[str, str]) -> dict[str, Any]:
        """The `venues.<slug>` section that points this venue at its emulator served at
        `url`, with `ws_urls` by emulator channel (`VenueServer.ws_urls`)."""

    @abc.abstractmethod
    async def credentials(self, context: CredentialContext[S]) -> C:
        """The gateway's credentials: onboarded paper keys, or the vault's signers (live)."""

    @abc.abstractmethod
    def gateway(self, context: GatewayContext[S, L, C]) -> VenueGateway:
        """A gateway for the tenant's markets on this venue (connects in `start`)."""

    @abc.abstractmethod
    async def check(
        self, transport: VenueTransport, credentials: Callable[[], Awaitable[C]] | None,
        now_ms: NowMs = wall_ms,
    ) -> CheckResult:
        """`check-connectivity`: reach, protocol, clock skew and authenticated calls. Never
        raises for the venue's fault; every problem goes into the result."""

    @abc.abstractmethod
    def channel_probes(self, legs: Sequence[L], credentials: C) -> Sequence[ChannelProbe]:
        """Every WebSocket subscription the gateway makes, as a probe that waits for the
        venue's answer (a book snapshot, a subscription ack) for the first of `legs`."""

    @abc.abstractmethod
    async def listing(self, transport: VenueTransport, leg: L) -> Listing:
        """What the venue's market endpoints say of `leg`: listed, accepting orders, and its
        tick (and fees, where the venue publishes them) beside the configured ones. Raises
        `RequestTimeout` only; every other answer goes into the `Listing`."""

    async def readiness(
        self, transport: VenueTransport, credentials: Callable[[], Awaitable[C]] | None,
        legs: Sequence[L], *, min_balance_micros: int = 0, deadline_s: float = 10.0,
        now_ms: NowMs = wall_ms,
    ) -> CheckResult:
        """What a live start needs to be true: `check` (reach, protocol, skew, auth and
        balance), then the balance against `min_balance_micros`, each of `legs` as the venue
        lists it, and each WebSocket channel answering within `deadline_s`, with the same
        credentials. Never raises for the venue's fault."""
        remembered = None
        if credentials is not None:
            source = credentials

            async def obtained() -> C:
                try:
                    return await source()
                except VaultCredentialError as exc:  # the vault's refusal is failed auth
                    raise CredentialsUnavailable(str(exc)) from exc

            remembered = Remembered(obtained)
        result = await self.check(transport, remembered, now_ms)
        if not result.reachable:
            return result
        judge_minimum(result, min_balance_micros)
        for leg in legs:
            try:
                judge_listing(result, await self.listing(transport, leg))
            except RequestTimeout as exc:
                result.fail(f"market {self.market(leg).market_id}", f"no reply: {exc}")
        if not legs:
            result.not_checked("ws", "the config trades no market on this venue")
        elif remembered is None or remembered.value is None:
            result.not_checked("ws", "no credentials to open the channels with")
        else:
            for probe in self.channel_probes(legs, remembered.value):
                await probe_channel(result, transport, probe, deadline_s)
        return result

    # -- tools ------------------------------------------------------------------------------
    def cli(self) -> typer.Typer | None:
        """`arbiter venue <slug> ...`: offline tools (sign an order, a request), if any."""
        return None


def plugin(slug: str) -> VenuePlugin[Any, Any, Any]:
    """The registered plugin of `slug` (`UnknownVenue` names the registered ones)."""
    found = VENUES.get(slug)
    if not isinstance(found, VenuePlugin):
        raise TypeError(f"venue {slug!r} is registered with {type(found).__name__}, "
                        "not a VenuePlugin")
    return found


def plugins() -> list[VenuePlugin[Any, Any, Any]]:
    """Every registered venue plugin, by slug."""
    return [plugin(slug) for slug in VENUES.slugs()]

"""Drive the real engine against faulty emulated venues, crash it, restart it, and check
the financial invariants at the end. One seed, one exact replay.

An "engine" is everything that dies with the process: bus, gateways, order book, detector,
risk and saga service. The venues (emulators + synthetic market) and the saga log outlive
it, as they would across a real crash.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import CENT, ONE_DOLLAR, QTY_SCALE, notional, parse_micros
from arbiter.emulators.link import InProcessLink
from arbiter.platform.clock import ManualClock
from arbiter.platform.config import DEFAULT_PAIRS, ArbiterConfig, load_config
from arbiter.saga import log as saga_log
from arbiter.saga.log import SqliteSagaLog
from arbiter.saga.machine import LegRole, Saga, State
from arbiter.simulation.chaos import ChaosLink, Faults
from arbiter.topology.builders import venue_credentials
from arbiter.topology.embedded import EmbeddedMesh, EmulatedVenues
from arbiter.venues.plugin import plugin


class InvariantViolation(AssertionError):
    """A financial invariant failed; the message names the seed that replays it."""


@dataclass
class RunReport:
    seed: int
    steps: int
    crashes: int
    sagas: int
    terminal_states: dict[str, int]
    fills: int
    faults: dict[str, int]
    violations: list[str] = field(default_factory=list)


def sim_config(seed: int, execution: str = "sequential") -> ArbiterConfig:
    """Two pairs (one of them inverted) and loose limits: many sagas in a short run."""
    return load_config(environ={}, overrides={
        "market.seed": seed,
        "saga.execution": execution,
        "market.auto_merge": True,
        "tenant.tier": "standard",
        "market.pairs": [DEFAULT_PAIRS[0], DEFAULT_PAIRS[-1]],
        "risk.max_position_per_market": "100000",
        "risk.max_open_sagas": 8,
        "saga.leg_timeout_ms": 150,
    })


@dataclass(frozen=True, slots=True)
class LoggedFill:
    """One fill as the saga log recorded it: the engine's durable account of its money."""

    trade: str  # the gateway's trade id: the venue's, suffixed with the order id if a maker
    price: int
    qty: int
    fee: int
    engine: int  # which engine (0: the first, n: after the n-th crash) booked it

    @property
    def spent(self) -> int:
        return notional(self.price, self.qty) + self.fee


class RaceSimulator:
    def __init__(self, seed: int, steps: int = 40, faults: Faults = Faults(),
                 crash_per_mille: int = 60, execution: str = "sequential") -> None:
        self.seed = seed
        self.steps = steps
        self.crash_per_mille = crash_per_mille
        self.rng = random.Random(seed)
        self.config = sim_config(seed, execution)
        self.clock = ManualClock()
        self.venues = EmulatedVenues.create(self.config)
        self.links = {venue: ChaosLink(emulator, self.rng, faults)
                      for venue, emulator in self.venues.venues.items()}
        self.journal = SqliteSagaLog(":memory:", self.config.tenant.id)
        self.credentials: dict[Venue, Any] = {}
        self.crashes = 0
        self.restarts: list[int] = []  # saga log length at each crash: where an engine died

    async def _engine(self) -> EmbeddedMesh:
        """Everything a crash destroys, rebuilt around the surviving venues, saga log and
        credentials (onboarded once, over a link without faults)."""
        if not self.credentials:
            self.credentials = {
                venue: await venue_credentials(self.config, venue, InProcessLink(emulator),
                                               None)
                for venue, emulator in self.venues.venues.items()}
        return await EmbeddedMesh.build(self.config, clock=self.clock, venues=self.venues,
                                        links=dict(self.links), journal=self.journal,
                                        credentials=self.credentials)

    async def run(self) -> RunReport:
        engine = await self._engine()
        await engine.start()
        for _ in range(self.steps):
            self.clock.advance(self.config.market.step_ms * 1000)
            await self.venues.market.step()
            if self.rng.randrange(1000) < self.crash_per_mille:
                engine = await self._crash_mid_step(engine)
            else:
                await self._settle(engine)
        engine = await self._quiesce(engine)
        await engine.read_settlements()  # the wallet's merges so far (nothing has settled)
        before = [f"before resolution: {problem}"
                  for problem in await position_mismatches(engine)]
        engine = await self._resolve(engine)
        report = self._report(engine)
        report.violations = before + await self.check(engine)
        await engine.stop()
        return report

    async def _settle(self, engine: EmbeddedMesh) -> None:
        """Let the network and the engine run until nothing moves."""
        for _ in range(200):
            await engine.bus.drained()
            released = sum([await link.release() for link in self.links.values()])
            looked = await engine.saga.reconcile_stale(self.config.saga.leg_timeout_ms * 1000)
            if not released and not looked and not any(l.holding for l in self.links.values()):
                await engine.bus.drained()
                return
            self.clock.advance(50_000)

    async def _crash_mid_step(self, engine: EmbeddedMesh) -> EmbeddedMesh:
        """Kill the engine after a random number of scheduling points, then restart it."""
        for _ in range(self.rng.randrange(1, 60)):
            await asyncio.sleep(0)
        self.crashes += 1
        await engine.stop()
        self.restarts.append(len([e async for e in self.journal.replay()]))
        for link in self.links.values():
            link.sever()
        fresh = await self._engine()
        await fresh.start()
        await self._settle(fresh)
        return fresh

    async def _quiesce(self, engine: EmbeddedMesh) -> EmbeddedMesh:
        """End of run: deliver everything, look up every overdue order, finish every saga."""
        for _ in range(50):
            for link in self.links.values():
                await link.release(everything=True)
            await self._settle(engine)
            self.clock.advance(self.config.saga.leg_timeout_ms * 1000)
            if not engine.saga.in_flight:
                break
            await engine.saga.reconcile_stale(0)
        await engine.bus.drained()
        return engine

    async def _resolve(self, engine: EmbeddedMesh) -> EmbeddedMesh:
        """End of run: every pair resolves, the first as both venues agree, the second
        voided by its leg-B venue at a fair 50c while its leg-A venue resolves it; the
        engine reads the settlements, and (unless crashes are off) may crash just before the
        read or just after it (a fresh engine reads them all again)."""
        first, second = (state.pair.pair_id for state in self.venues.market.pairs)
        await self.venues.market.resolve(first, ONE_DOLLAR * self.rng.randrange(2))
        await self.venues.market.resolve(second, ONE_DOLLAR * self.rng.randrange(2), 50 * CENT)
        for _ in range(2):
            if self.crash_per_mille and self.rng.randrange(1000) < 300:
                engine = await self._crash_mid_step(engine)
            await engine.read_settlements()
            await self._settle(engine)
        return engine

    # -- invariants ------------------------------------------------------------------
    async def check(self, engine: EmbeddedMesh) -> list[str]:
        problems = saga_violations(engine)
        for venue, link in self.links.items():
            for key, count in link.accepted.items():
                if count > 1:
                    problems.append(f"{venue} accepted {count} orders for intent {key}")
        problems += await position_mismatches(engine)
        fills = await self._logged_fills()
        problems += self._prices_hold(engine, fills)
        problems += self._money_matches(engine, fills)
        problems += self._settlements_booked(engine)
        return problems

    def _settlements_booked(self, engine: EmbeddedMesh) -> list[str]:
        """Every market settled is booked at the venue's payout, risk holds nothing in it
        any more, and the voided pair is reported as the disagreement it is."""
        assert engine.lifecycle is not None
        paid = self._payouts()
        problems = [f"{venue}:{market}: booked {engine.lifecycle.settled.get((venue, market))}"
                    f", the venue paid {payout}" for (venue, market), payout in paid.items()
                    if engine.lifecycle.settled.get((venue, market)) != payout]
        left = {key: qty for key, qty in engine.risk.state.ledger.positions().items()
                if qty and (key[0], key[1]) in paid}
        if left:
            problems.append(f"risk still holds settled positions: {left}")
        reported = [d["pair"] for d in engine.lifecycle.disagreements]
        voided = self.venues.market.pairs[1].pair.pair_id
        if sorted(set(reported)) != [voided]:
            problems.append(f"disagreements reported {reported}, expected [{voided}]")
        return problems

    def _payouts(self) -> dict[tuple[Venue, str], int]:
        """What one YES contract of each resolved market paid, as the sim resolved it."""
        paid = {}
        for pair_id, a_payout, b_payout in self.venues.market.resolutions:
            pair = next(s.pair for s in self.venues.market.pairs if s.pair.pair_id == pair_id)
            paid[(pair.a.venue, pair.a.market_id)] = a_payout
            paid[(pair.b.venue, pair.b.market_id)] = b_payout
        return paid

    async def _logged_fills(self) -> dict[str, list[LoggedFill]]:
        """Every fill the saga log holds, by client order id: what survived the crashes."""
        fills: dict[str, list[LoggedFill]] = defaultdict(list)
        seq = 0
        async for entry in self.journal.replay():
            if entry.kind == saga_log.FILL:
                data = entry.data
                engine = sum(1 for restart in self.restarts if restart <= seq)
                fills[data["coid"]].append(LoggedFill(
                    data["trade"].split(":", 1)[1], data["price"], data["qty"], data["fee"],
                    engine))
            seq += 1
        return fills

    def _prices_hold(self, engine: EmbeddedMesh,
                     fills: dict[str, list[LoggedFill]]) -> list[str]:
        """Every fill is at or under its BUY limit, and no hedge order may lock in a loss
        against what the other leg really paid: sequentially that is every leg-2 order
        against leg 1; in parallel both first orders go out together at the detected prices,
        so it is each chase or resend of the short leg against the long one. Prices are
        compared in the order's own micro-units: Polymarket signs amounts whose implied price
        is the limit exactly (amounts.py; the gateway only rounds a limit down), and both
        venues fill on the tick grid."""
        parallel = self.config.saga.execution == "parallel"
        problems = []
        for saga in engine.saga.sagas.values():
            paid = {role: [f for coid, record in saga.orders.items() if record.role is role
                           for f in fills.get(coid, [])]
                    for role in (LegRole.FIRST, LegRole.SECOND)}
            for coid, record in saga.orders.items():
                limit = record.command.limit_price
                problems += [f"{coid}: filled at {f.price} above its limit {limit}"
                             for f in fills.get(coid, []) if f.price > limit]
                if record.role is LegRole.UNWIND or (parallel and record.strategy is None):
                    continue
                if record.role is LegRole.FIRST and not parallel:
                    continue
                other = paid[LegRole.SECOND if record.role is LegRole.FIRST else LegRole.FIRST]
                bought, spent = sum(f.qty for f in other), sum(f.spent for f in other)
                # break-even: the other leg's units plus as many at `limit` pay out no less
                # than its cost and fees plus theirs, i.e. limit x bought + spent <= bought
                if limit * bought > (bought - spent) * QTY_SCALE:
                    problems.append(f"{coid}: hedge limit {limit} above break-even: the "
                                    f"other leg bought {bought} for {spent}")
        return problems

    def _money_matches(self, engine: EmbeddedMesh,
                       fills: dict[str, list[LoggedFill]]) -> list[str]:
        """Every fill the engine booked is one the venue made, at the venue's price and
        size; each order's fees are what the venue charged for it; per venue, the engine's
        fill costs and those fees are all the account was charged (the engine only buys, so
        every micro-dollar the account moved is a fill's cost or fee); each saga's PnL
        follows from the log."""
        problems = []
        ledgers = {venue: _ledger(venue, emulator)
                   for venue, emulator in self.venues.venues.items()}
        costs: dict[Venue, int] = defaultdict(int)
        bought: dict[tuple[Venue, str, Outcome], int] = defaultdict(int)
        for saga in engine.saga.sagas.values():
            for coid, record in saga.orders.items():
                logged = fills.get(coid, [])
                ledger = ledgers[record.command.venue]
                costs[record.command.venue] += sum(f.spent - f.fee for f in logged)
                bought[(record.command.venue, record.command.market_id,
                        record.command.outcome)] += sum(f.qty for f in logged)
                if (record.cost + record.fees != sum(f.spent for f in logged)
                        or record.filled != sum(f.qty for f in logged)):
                    problems.append(f"{coid}: saga counts {record.filled} for "
                                    f"{record.cost} + {record.fees}, its log says otherwise")
                problems += _fill_problems(coid, logged, ledger)
            problems += _pnl_problems(saga, fills)
        for venue, ledger in sorted(ledgers.items()):
            account = self.venues.venues[venue].account
            # fees are checked order by order above; a netting venue pays each closed pair,
            # and each settled market pays what the fills left held in it
            charged = (-account.cash - account.fees + ledger.payouts
                       + _settlement_cash(venue, bought, self._payouts(), ledger.merged))
            if costs[venue] != charged:
                problems.append(f"{venue}: engine's fills cost {costs[venue]} != venue "
                                f"{charged}")
            if sum(ledger.order_fees.values()) != account.fees:  # the check's own reading
                problems.append(f"{venue}: order fees {sum(ledger.order_fees.values())} do "
                                f"not add up to the account's {account.fees}")
        return problems

    def _report(self, engine: EmbeddedMesh) -> RunReport:
        states: dict[str, int] = defaultdict(int)
        for saga in engine.saga.sagas.values():
            states[saga.state.name] += 1
        faults: dict[str, int] = defaultdict(int)
        for link in self.links.values():
            for name, count in link.injected.items():
                faults[name] += count
        return RunReport(self.seed, self.steps, self.crashes, len(engine.saga.sagas),
                         dict(sorted(states.items())), engine.saga.fills, dict(faults))


def saga_violations(engine: EmbeddedMesh) -> list[str]:
    """Every saga over and hedged as its end state says, no order over- or under-counted."""
    problems: list[str] = []
    for saga in engine.saga.sagas.values():
        for coid, record in saga.orders.items():
            if record.filled > record.command.qty:
                problems.append(f"{coid}: filled {record.filled} > size {record.command.qty}")
            if record.closed and record.filled + record.canceled != record.command.qty:
                problems.append(f"{coid}: filled {record.filled} + canceled "
                                f"{record.canceled} != size {record.command.qty}")
        if not saga.terminal:
            problems.append(f"{saga.saga_id} still in flight in {saga.state.name}")
        elif saga.state in (State.COMPLETED, State.COMPENSATED) and saga.unhedged:
            problems.append(f"{saga.saga_id} ended {saga.state.name} with "
                            f"{saga.unhedged} unhedged")
        elif saga.state is State.LEG1_FAILED and saga.filled(LegRole.FIRST):
            problems.append(f"{saga.saga_id} LEG1_FAILED but leg 1 filled")
    return problems


async def position_mismatches(engine: EmbeddedMesh) -> list[str]:
    """Where the engine's positions differ from what each venue's own API says we hold (one
    net side per market where the venue nets YES against NO)."""
    mine = engine.saga.positions
    settled = engine.portfolio.settled if engine.portfolio is not None else {}
    merged = engine.portfolio.merged if engine.portfolio is not None else {}
    problems = []
    for venue, gateway in sorted(engine.gateways.items()):
        snapshot = await gateway.positions()
        theirs: dict[tuple[str, Outcome], int] = defaultdict(int)
        for p in snapshot.positions:
            theirs[(p.market_id, Outcome(p.outcome))] += p.qty_micros
        for market in engine.universe.markets(venue):
            gone = (venue, market.market_id) in settled  # paid out: nothing held either side
            sets = merged.get((venue, market.market_id), 0)  # merged back to collateral
            held = {o: 0 if gone else mine.get((venue, market.market_id, o), 0) - sets
                    for o in Outcome}
            told = {o: theirs.get((market.market_id, o), 0) for o in Outcome}
            if snapshot.netted:
                held = {Outcome.YES: held[Outcome.YES] - held[Outcome.NO]}
                told = {Outcome.YES: told[Outcome.YES] - told[Outcome.NO]}
            for outcome, qty in held.items():
                if qty != told[outcome]:
                    problems.append(f"{venue} {market.market_id} {outcome.name}: engine "
                                    f"{qty} != venue {told[outcome]}")
    return problems


def _pnl_problems(saga: Saga, fills: dict[str, list[LoggedFill]]) -> list[str]:
    """A saga's realized PnL against its logged fills: exactly $1 per hedged unit less all
    that was spent when nothing is left unhedged; otherwise between that and $1 per hedged
    unit, since the unhedged units' share of the spend is not realized."""
    units: dict[Outcome, int] = defaultdict(int)
    spent = 0
    for coid, record in saga.orders.items():
        for fill in fills.get(coid, []):
            units[record.event_side] += fill.qty
            spent += fill.spent
    hedged = min(units[Outcome.YES], units[Outcome.NO])
    pnl = saga.realized_pnl()
    if units[Outcome.YES] == units[Outcome.NO]:
        if pnl != hedged - spent:
            return [f"{saga.saga_id}: PnL {pnl} != {hedged} hedged - {spent} spent"]
    elif hedged and not hedged - spent <= pnl <= hedged:
        return [f"{saga.saga_id}: PnL {pnl} outside [{hedged} - {spent}, {hedged}]"]
    return []


def _settlement_cash(venue: Venue, bought: dict[tuple[Venue, str, Outcome], int],
                     paid: dict[tuple[Venue, str], int], merged: Mapping[str, int]) -> int:
    """What settling `venue`'s resolved markets paid for what the fills bought in them: on
    a netting venue (Kalshi) the net side's payout (the netted pairs were paid at once);
    with tokens (Polymarket) each YES its payout and each NO the rest of $1, after the
    complete sets merged (paid at the merge)."""
    total = 0
    for (where, market_id), payout in paid.items():
        if where != venue:
            continue
        yes, no = (bought[(venue, market_id, o)] - merged.get(market_id, 0) for o in Outcome)
        if plugin(venue).nets_positions:
            yes, no = max(0, yes - no), max(0, no - yes)
        total += notional(payout, yes) + notional(ONE_DOLLAR - payout, no)
    return total


@dataclass(frozen=True, slots=True)
class VenueTrade:
    order_id: str
    price: int  # in the bought outcome's own terms, as the venue itself priced it
    qty: int


@dataclass(slots=True)
class Ledger:
    """One venue's own record of our fills (keyed as the gateways name them) and of the fee
    it charged each order; `step` is its fee rounding when our gateway must model the fee
    (Polymarket reports none), 0 when the venue states it on every fill (Kalshi)."""

    trades: dict[str, VenueTrade] = field(default_factory=dict)
    order_fees: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    step: int = 0
    payouts: int = 0  # $1 per YES + NO pair netted (Kalshi) or merged (Polymarket)
    merged: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # sets, by market


def _ledger(venue: Venue, emulator: Any) -> Ledger:
    ledger = Ledger()
    if venue == "polymarket":
        taker_fills: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for trade_id, trade in emulator.trades.items():
            order_id = trade["taker_order_id"]
            if order_id in emulator.orders:
                price, qty = parse_micros(trade["price"]), parse_micros(trade["size"])
                ledger.trades[trade_id] = VenueTrade(order_id, price, qty)
                taker_fills[order_id].append((price, qty))
            for maker in trade["maker_orders"]:
                if maker["order_id"] in emulator.orders:  # makers pay no fee
                    ledger.trades[f"{trade_id}:{maker['order_id']}"] = VenueTrade(
                        maker["order_id"], parse_micros(maker["price"]),
                        parse_micros(maker["matched_amount"]))
        for row in emulator.activity:  # the wallet's merges: $1 a complete set
            sets = parse_micros(str(row["size"]))
            ledger.payouts += notional(ONE_DOLLAR, sets)
            ledger.merged[row["conditionId"]] += sets
        for order_id, taker in taker_fills.items():  # charged once per order, on its match
            model = emulator.fees[emulator.orders[order_id].market]
            ledger.order_fees[order_id] = model.fee(taker)
            ledger.step = max(ledger.step, model.rounding_micros)
        return ledger
    held: dict[str, int] = defaultdict(int)  # signed: YES long > 0, NO long < 0
    for fill in emulator.fills:
        qty = parse_micros(fill["count_fp"])
        signed = qty if fill["outcome_side"] == "yes" else -qty
        opposite = held[fill["ticker"]]
        if opposite * signed < 0:
            ledger.payouts += notional(ONE_DOLLAR, min(qty, abs(opposite)))
        held[fill["ticker"]] += signed
        key = fill["trade_id"] if fill["is_taker"] else f"{fill['trade_id']}:{fill['order_id']}"
        side = "yes_price_dollars" if fill["outcome_side"] == "yes" else "no_price_dollars"
        ledger.trades[key] = VenueTrade(fill["order_id"], parse_micros(fill[side]),
                                        parse_micros(fill["count_fp"]))
        ledger.order_fees[fill["order_id"]] += parse_micros(fill["fee_cost"])
    return ledger


def _fill_problems(coid: str, logged: list[LoggedFill], ledger: Ledger) -> list[str]:
    """One order's logged fills against the venue's: the same trades, prices and sizes,
    and the fee the venue charged the order. Where the gateway models a per-order rounded
    fee it books it in increments over the fills it has seen; fills booked by two engines
    (a crash between them) were split by two such running totals, each increment off the
    raw fee by less than a rounding step, so only there the order's fees may be off by up
    to one step per fill. Everywhere else they must be exact."""
    problems = []
    orders = set()
    for fill in logged:
        trade = ledger.trades.get(fill.trade)
        if trade is None:
            problems.append(f"{coid}: booked trade {fill.trade}, which the venue never made")
        elif (fill.price, fill.qty) != (trade.price, trade.qty):
            problems.append(f"{coid}: trade {fill.trade} booked {fill.qty} at {fill.price}, "
                            f"venue made {trade.qty} at {trade.price}")
        else:
            orders.add(trade.order_id)
    if len(orders) > 1:
        return [*problems, f"{coid}: fills of venue orders {sorted(orders)}"]
    if orders and not problems:
        charged = ledger.order_fees.get(orders.pop(), 0)
        booked = sum(f.fee for f in logged)
        split = len({f.engine for f in logged}) > 1
        if abs(booked - charged) > (ledger.step * len(logged) if split else 0):
            problems.append(f"{coid}: booked fees {booked}, venue charged {charged}")
    return problems

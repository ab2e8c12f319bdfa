"""The live terminal view of the embedded mesh (rich): books, edges, sagas, PnL."""

from __future__ import annotations

import time
from decimal import Decimal

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from arbiter.core.book import L2Book
from arbiter.core.units import to_decimal
from arbiter.saga.machine import LegRole, State
from arbiter.topology.embedded import EmbeddedMesh

SAGA_ROWS = 6
POSITION_ROWS = 6
_STYLE = {State.COMPLETED: "green", State.COMPENSATED: "yellow", State.HELD: "bold red",
          State.LEG1_FAILED: "dim", State.RISK_REJECTED: "dim"}


def _px(book: L2Book, side: str) -> str:
    price = book.best_bid_price() if side == "bid" else book.best_ask_price()
    return "-" if price is None else f"{to_decimal(price):.3f}"


def header(mesh: EmbeddedMesh, elapsed_s: float) -> Text:
    """Mode, seed, bus, time, markets settled, and whether trading runs: HardStop and its
    reason, readiness still missing, every market resolved, or the limit that refuses every
    new saga."""
    config = mesh.config
    minutes, seconds = divmod(int(elapsed_s), 60)
    clock = "lock-step" if mesh.lockstep else "free-running"
    parts: list[str | tuple[str, str]] = [
        ("LIVE " if not config.venues.paper else "PAPER ", "bold"),
        (f"seed {config.market.seed} · bus {mesh.summary_bus} ({clock}) · "
         f"{minutes:02d}:{seconds:02d} elapsed · step {mesh.steps} · ")]
    settled = mesh.lifecycle.settled if mesh.lifecycle is not None else {}
    markets = mesh.universe.markets()
    if settled:
        parts.append(f"{len(settled)}/{len(markets)} markets settled · ")
    risk = mesh.risk.state
    stop, missing = risk.hard_stop(), risk.readiness.missing()
    if stop.latched:
        parts.append((f"HardStop: {stop.reason}", "bold red"))
    elif missing:
        parts.append((f"not ready: {', '.join(missing)}", "yellow"))
    elif all((m.venue, m.market_id) in settled for m in markets):
        parts.append(("every market has resolved: nothing left to trade", "bold yellow"))
    elif mesh.risk.limited_by:
        parts.append((f"limit reached: {mesh.risk.limited_by}", "bold yellow"))
    else:
        parts.append(("trading", "green"))
    return Text.assemble(*parts)


def render(mesh: EmbeddedMesh, elapsed_s: float = 0.0) -> Group:
    books = mesh.orderbook.books
    pairs = Table(title="Pairs (YES book of each leg)", expand=True)
    for column in ("pair", "leg A", "A bid", "A ask", "leg B", "B bid", "B ask", "edge/contract"):
        pairs.add_column(column, justify="left" if column in ("pair", "leg A", "leg B")
                         else "right")
    settled = mesh.lifecycle.settled if mesh.lifecycle is not None else {}
    for pair in mesh.universe.pairs:
        if all((m.venue, m.market_id) in settled for m in (pair.a, pair.b)):
            continue  # resolved: the successor (if the market relists) has its own row
        a, b = books[pair.a.key], books[pair.b.key]
        edge = mesh.detector.edges.get(pair.pair_id)
        edge_text = "-" if edge is None else f"{to_decimal(edge):+.4f}"
        style = "bold green" if edge is not None and edge > 0 else ""
        name = pair.pair_id + (" (inverted)" if pair.b_inverted else "")
        pairs.add_row(name, pair.a.venue, _px(a, "bid"), _px(a, "ask"), pair.b.venue,
                      _px(b, "bid"), _px(b, "ask"),
                      f"[{style}]{edge_text}[/]" if style else edge_text)

    stats = mesh.summary()
    totals = Text.assemble(
        ("Engine  ", "bold"),
        f"steps {stats['steps']} · book updates {stats['book_updates']} · "
        f"opportunities {stats['opportunities']} · sagas {stats['sagas_started']} started, ",
        (f"{stats['sagas_completed']} completed", "green"), ", ",
        (f"{stats['sagas_compensated']} compensated", "yellow"), ", ",
        (f"{stats['sagas_held']} held", "bold red" if stats["sagas_held"] else ""),
        f", {stats['sagas_in_flight']} in flight · orders {stats['orders_sent']} · "
        f"fills {stats['fills']}\n",
        ("PnL     ", "bold"),
        (f"locked-in ${Decimal(stats['locked_in_pnl_usd']):,.2f}", "bold green"),
        f" · realized ${Decimal(stats['realized_pnl_usd']):,.2f}"
        f" · unrealized ${Decimal(stats['unrealized_pnl_usd']):,.2f}"
        f" (marked: {stats['mark_rule']})"
        f" · fees ${Decimal(stats['fees_paid_usd']):,.2f}",
    )

    rejected = stats["risk_rejections"]
    sagas = Table(title=f"Recent sagas (risk rejections: {rejected or 'none'})", expand=True)
    for column in ("saga", "state", "leg 1", "leg 2", "PnL", "detail"):
        sagas.add_column(column, no_wrap=True, overflow="ellipsis")
    executed = [s for s in mesh.saga.sagas.values() if s.state is not State.RISK_REJECTED]
    for saga in executed[-SAGA_ROWS:]:
        style = _STYLE.get(saga.state, "cyan")
        sagas.add_row(saga.saga_id.split(":", 1)[-1], f"[{style}]{saga.state.name}[/]",
                      f"{to_decimal(saga.filled(LegRole.FIRST)):,.2f}",
                      f"{to_decimal(saga.filled(LegRole.SECOND)):,.2f}",
                      f"{to_decimal(saga.realized_pnl()):+,.4f}", saga.detail)

    positions = Table(title="Largest positions (engine view)", expand=True)
    positions.add_column("venue")
    positions.add_column("instrument")
    positions.add_column("contracts", justify="right")
    held = [(venue, instrument, qty) for venue, rows in stats["open_positions"].items()
            for instrument, qty in rows.items()]
    held.sort(key=lambda row: -Decimal(row[2]))
    for venue, instrument, qty in held[:POSITION_ROWS]:
        positions.add_row(venue, instrument[-28:], f"{Decimal(qty):,.2f}")
    top = header(mesh, elapsed_s)
    if mesh.config.venues.paper:
        return Group(top, pairs, totals, sagas, positions)
    banner = Text(f" LIVE  real orders for tenant {mesh.config.tenant.id} ", justify="center",
                  style="bold white on red")
    return Group(banner, top, pairs, totals, sagas, positions)


class LiveView:
    """The terminal view `arbiter run` shows (a `topology.runner.View`)."""

    def __init__(self, mesh: EmbeddedMesh) -> None:
        self._started = time.monotonic()
        self._live = Live(render(mesh), refresh_per_second=4, screen=False)
        self._live.start()

    def update(self, mesh: EmbeddedMesh) -> None:
        self._live.update(render(mesh, time.monotonic() - self._started))

    def close(self) -> None:
        self._live.stop()

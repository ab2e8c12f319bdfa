"""The live terminal view of the embedded mesh (rich): books, edges, sagas, PnL."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from arbiter.core.units import to_decimal
from arbiter.saga.machine import State
from arbiter.topology.embedded import EmbeddedMesh

_STYLE = {State.COMPLETED: "green", State.COMPENSATED: "yellow", State.HELD: "bold red",
          State.LEG1_FAILED: "dim", State.RISK_REJECTED: "dim"}


def _px(book, side: str) -> str:  # type: ignore[no-untyped-def]
    price = book.best_bid_price() if side == "bid" else book.best_ask_price()
    return "-" if price is None else f"{to_decimal(price):.3f}"


def render(mesh: EmbeddedMesh) -> Group:
    books = mesh.orderbook.books
    pairs = Table(title="Pairs (YES book per venue)", expand=True)
    for column in ("pair", "poly bid", "poly ask", "kalshi bid", "kalshi ask", "edge/contract"):
        pairs.add_column(column, justify="right" if column != "pair" else "left")
    for pair in mesh.catalog.pairs:
        a, b = books[pair.a.key], books[pair.b.key]
        edge = mesh.detector.edges.get(pair.pair_id)
        edge_text = "-" if edge is None else f"{to_decimal(edge):+.4f}"
        style = "bold green" if edge is not None and edge > 0 else ""
        name = pair.pair_id + (" (inverted)" if pair.b_inverted else "")
        pairs.add_row(name, _px(a, "bid"), _px(a, "ask"), _px(b, "bid"), _px(b, "ask"),
                      f"[{style}]{edge_text}[/]" if style else edge_text)

    stats = mesh.summary()
    totals = Table(title="Engine", expand=True)
    for column in ("steps", "book updates", "opportunities", "sagas started", "completed",
                   "compensated", "held", "in flight", "orders", "fills", "PnL (USD)"):
        totals.add_column(column, justify="right")
    totals.add_row(*(str(stats[k]) for k in (
        "steps", "book_updates", "opportunities", "sagas_started", "sagas_completed",
        "sagas_compensated", "sagas_held", "sagas_in_flight", "orders_sent", "fills",
        "realized_pnl_usd")))

    sagas = Table(title="Recent sagas", expand=True)
    for column in ("saga", "state", "leg 1", "leg 2", "PnL", "detail"):
        sagas.add_column(column)
    for saga in list(mesh.saga.sagas.values())[-8:]:
        style = _STYLE.get(saga.state, "cyan")
        sagas.add_row(saga.saga_id, f"[{style}]{saga.state.name}[/]",
                      str(to_decimal(saga.filled("leg1"))), str(to_decimal(saga.filled("leg2"))),
                      str(to_decimal(saga.realized_pnl())), saga.detail[:40])

    positions = Table(title="Positions (engine view)", expand=True)
    positions.add_column("venue")
    positions.add_column("instrument")
    positions.add_column("contracts", justify="right")
    for venue, held in stats["open_positions"].items():
        for instrument, qty in held.items():
            positions.add_row(venue, instrument[-28:], qty)
    return Group(pairs, totals, sagas, positions)

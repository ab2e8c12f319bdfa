"""Every Arbiter metric, defined once, on the default prometheus-client registry.

Why one module: dashboards, alerts and the tests in tests/observability all check against
this file, so a metric that is not declared here does not exist. Services never create
metrics themselves; they bind the children they need once (at construction) and touch only
those on the per-tick path — `child.observe(x)` is ~1 µs, `Metric.labels(...)` is a dict
lookup under a lock and is kept off the hot path.

Naming: `arbiter_` prefix, snake_case, base units in the name (`_seconds`, `_dollars`,
`_contracts`, `_messages`), `_total` on counters.

Labels take values from sets fixed by code or by configuration, never from traffic:

* `hop`      — the pipeline stage reached (`HOPS`, fixed by code);
* `venue`    — venue slugs (the registered venues);
* `service`  — the Arbiter service that saw it (gateway, orderbook, detector: fixed by code);
* `tenant`   — tenant ids: one per `Tenant` resource, created by an operator, not by traffic;
* `gate`     — risk gate names (fixed by the gate chain);
* `state`    — saga terminal states (fixed by the saga machine);
* `strategy` — compensation strategies (`STRATEGIES`, fixed by the saga policy);
* `group`    — bus consumer groups: one per service (and tenant), fixed by deployment.

Saga ids, order ids, market ids and prices never become labels: they grow with traffic.
(The instrument set *is* config-bounded, but per-venue aggregates are what the alerts need,
so books are reported per venue, worst case first.) Individual sagas are reachable from
the metrics through exemplars: the saga-duration and tick-latency histograms carry the
trace id of the observation when tracing is on (OpenMetrics exposition).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from arbiter.core.instruments import Venue
from arbiter.platform.telemetry import tracing

# -- label vocabularies ---------------------------------------------------------------
ALLOWED_LABELS = frozenset(
    {"hop", "venue", "service", "tenant", "gate", "state", "strategy", "group", "what"}
)
# Venue message received -> ... : each hop is named by the stage it ends at.
HOPS = ("book_applied", "opportunity", "risk_decision", "order_sent", "ack", "fill")
STRATEGIES = ("retry", "chase", "unwind", "hold")
SAGA_END_STATES = ("completed", "compensated", "held", "leg1_failed", "risk_rejected")

# 10 µs .. 1 s in 1-2.5-5 steps: the in-process hot path lives in the first decade, a gRPC
# hop near 1 ms, a tansu hop near 10-20 ms; alert budgets sit on bucket boundaries.
LATENCY_BUCKETS = (
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,
)
SAGA_BUCKETS = LATENCY_BUCKETS + (2.5, 5.0, 10.0, 30.0, 60.0)
EDGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)

# -- latency ---------------------------------------------------------------------------
HOP_LATENCY = Histogram(
    "arbiter_hop_latency_seconds",
    "Latency of one pipeline hop, from the previous stage to `hop`.",
    ["hop"], buckets=LATENCY_BUCKETS)
# For the first hop (book_applied) tick and hop latency are one number: only HOP_LATENCY has it.
TICK_LATENCY = Histogram(
    "arbiter_tick_latency_seconds",
    "Venue message received -> end of `hop` (hop=order_sent is tick-to-trade).",
    ["hop"], buckets=LATENCY_BUCKETS)

# -- opportunities ---------------------------------------------------------------------
OPPORTUNITIES_SEEN = Counter(
    "arbiter_opportunities_seen_total", "Opportunities the detector published.")
OPPORTUNITY_EDGE = Histogram(
    "arbiter_opportunity_edge_dollars",
    "Edge per contract after fees of each published opportunity.", buckets=EDGE_BUCKETS)
OPPORTUNITIES_TAKEN = Counter(
    "arbiter_opportunities_taken_total", "Opportunities a saga started on (risk approved).",
    ["tenant"])
OPPORTUNITIES_EXPIRED = Counter(
    "arbiter_opportunities_expired_total", "Opportunities that reached a saga after their TTL.",
    ["tenant"])

# -- sagas, orders, money --------------------------------------------------------------
SAGAS_FINISHED = Counter(
    "arbiter_sagas_finished_total", "Sagas that reached a terminal state.", ["tenant", "state"])
SAGA_DURATION = Histogram(
    "arbiter_saga_duration_seconds", "Opportunity received -> saga terminal.",
    ["tenant", "state"], buckets=SAGA_BUCKETS)
SAGA_COMPENSATIONS = Counter(
    "arbiter_saga_compensations_total", "Compensation steps taken, by strategy.",
    ["tenant", "strategy"])
SAGAS_IN_FLIGHT = Gauge("arbiter_sagas_in_flight", "Sagas not yet terminal.", ["tenant"])
SAGAS_HELD = Gauge(
    "arbiter_sagas_held", "Sagas that ended HELD: unhedged exposure awaiting a human.", ["tenant"])
UNHEDGED_EXPOSURE = Gauge(
    "arbiter_unhedged_exposure_contracts",
    "Contracts bought on one leg with no matching opposite leg.", ["tenant"])
EXPOSURE = Gauge(
    "arbiter_exposure_dollars", "Cost basis of positions held until resolution.", ["tenant"])
LOCKED_IN_PNL = Gauge(
    "arbiter_locked_in_pnl_dollars",
    "What terminal sagas' hedges pay at resolution, less their cost and fees.", ["tenant"])
REALIZED_PNL = Gauge(
    "arbiter_realized_pnl_dollars", "Realized PnL per venue: pairs netted or settled, less "
    "their cost and fees.", ["tenant", "venue"])
UNREALIZED_PNL = Gauge(
    "arbiter_unrealized_pnl_dollars", "Open positions marked to the book (core/pnl.py "
    "MARK_RULE), less their cost and fees.", ["tenant", "venue"])
FEES_PAID = Gauge("arbiter_fees_paid_dollars", "Fees paid per venue.", ["tenant", "venue"])
ORDERS_SENT = Counter("arbiter_orders_sent_total", "Orders sent to a venue.", ["tenant", "venue"])
FILLS = Counter("arbiter_fills_total", "Fills counted (once per trade).", ["tenant", "venue"])

# -- risk ------------------------------------------------------------------------------
RISK_CHECKS = Counter("arbiter_risk_checks_total", "Pre-trade risk checks.", ["tenant"])
RISK_REJECTIONS = Counter(
    "arbiter_risk_rejections_total", "Risk checks refused, by the gate that refused.",
    ["tenant", "gate"])
HARD_STOP = Gauge("arbiter_hard_stop_latched", "1 while the HardStop latch is set.", ["tenant"])
FUNDS_FREE = Gauge(
    "arbiter_funds_free_dollars", "Cash a new saga may still spend on the venue: its balance "
    "less our buys since the read, open sagas' reservations and the minimum kept free.",
    ["tenant", "venue"])
FUNDS_LOW = Gauge(
    "arbiter_funds_low", "1 while the venue balance is unread or under the minimum free "
    "balance (trading readiness is down).", ["tenant", "venue"])

# -- venues and books ------------------------------------------------------------------
VENUE_CONNECTED = Gauge(
    "arbiter_venue_connected", "1 while the gateway's venue streams are connected.", ["venue"])
VENUE_RECONNECTS = Counter(
    "arbiter_venue_reconnects_total", "Venue stream reconnections.", ["venue"])
VENUE_RATE_LIMITED = Counter(
    "arbiter_venue_rate_limited_total", "Venue HTTP replies with status 429.", ["venue"])
VENUE_TIMEOUTS = Counter(
    "arbiter_venue_request_timeouts_total", "Venue requests with no reply in time.", ["venue"])
VENUE_REJECTED = Counter(
    "arbiter_venue_messages_rejected_total", "Malformed venue messages dropped.", ["venue"])
VENUE_QUEUE_DEPTH = Gauge(
    "arbiter_venue_queue_depth_messages",
    "Requests to the venue waiting for their turn (rate limit or back-off).", ["venue"])
VENUE_QUEUE_WAIT = Histogram(
    "arbiter_venue_queue_wait_seconds",
    "Time a venue request waited in the gateway's outbound queue.", ["venue"],
    buckets=LATENCY_BUCKETS + (2.5, 5.0, 10.0, 30.0))
VENUE_HEARTBEAT_FAILURES = Counter(
    "arbiter_venue_heartbeat_failures",
    "Dead-man-switch heartbeats the venue did not acknowledge.", ["venue"])
BOOK_EVENTS = Counter(
    "arbiter_book_events_total", "Normalised book events a gateway published.", ["venue"])
SEQUENCE_GAPS = Counter(
    "arbiter_sequence_gaps_total", "Sequence gaps detected (venue feed or book stream).",
    ["venue", "service"])
BOOK_DIVERGENCES = Counter(
    "arbiter_book_divergences_total",
    "Times our book's top disagreed with the venue's own ticker several tickers in a row.",
    ["venue"])
BOOK_AGE = Gauge(
    "arbiter_book_age_seconds", "Age of the venue's least recently updated book.", ["venue"])
BOOKS_STALE = Gauge(
    "arbiter_books_stale", "Books marked stale (gap or no snapshot yet).", ["venue"])

# -- bus -------------------------------------------------------------------------------
CONSUMER_LAG = Gauge(
    "arbiter_kafka_consumer_lag_messages",
    "Messages on a consumer's assigned partitions not yet handled.", ["group"])
BUS_DROPPED = Counter(
    "arbiter_bus_messages_dropped_total",
    "Messages skipped after every delivery attempt failed.", ["group"])
BUS_CONNECTED = Gauge(
    "arbiter_bus_connected", "1 while the Kafka broker answers this process's metadata probes.")
BUS_DATA_LOSS = Counter(
    "arbiter_bus_data_loss_total",
    "Times the broker came back without topics this process uses (restarted empty).")
BUS_SEND_FAILURES = Counter(
    "arbiter_bus_send_failures_total",
    "Messages the broker never acknowledged: a consumer's input is redelivered, anything else "
    "is rebuilt from the venues.")
BUS_RESENDS = Counter(
    "arbiter_bus_resends_total",
    "Durable messages (execution reports) sent again, one per attempt, after a failed send.")
BUS_DURABLE_PENDING = Gauge(
    "arbiter_bus_durable_pending_messages",
    "Durable messages (execution reports) waiting to be sent again; nonzero while the broker "
    "is out of reach.")
BUS_REBUILDS = Counter(
    "arbiter_bus_rebuilds_total",
    "Rebuilds from the venues after a broker data loss: books (fresh venue snapshots) and "
    "orders (open orders looked up).", ["what"])


def hop(name: str) -> Histogram:
    """The per-hop histogram child for `name` (bind once, observe per message)."""
    return HOP_LATENCY.labels(hop=_checked(name, HOPS))


def tick(name: str) -> Histogram:
    """The venue-received -> `name` histogram child (not for book_applied: see `hop`)."""
    return TICK_LATENCY.labels(hop=_checked(name, HOPS[1:]))


def _checked(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"label value {value!r} is not one of {allowed}")
    return value


class VenueMetrics:
    """One venue's gateway children, bound once."""

    def __init__(self, venue: str) -> None:
        self.connected = VENUE_CONNECTED.labels(venue=venue)
        self.reconnects = VENUE_RECONNECTS.labels(venue=venue)
        self.rate_limited = VENUE_RATE_LIMITED.labels(venue=venue)
        self.timeouts = VENUE_TIMEOUTS.labels(venue=venue)
        self.rejected = VENUE_REJECTED.labels(venue=venue)
        self.gaps = SEQUENCE_GAPS.labels(venue=venue, service="gateway")
        self.queue_depth = VENUE_QUEUE_DEPTH.labels(venue=venue)
        self.queue_wait = VENUE_QUEUE_WAIT.labels(venue=venue)
        self.heartbeat_failures = VENUE_HEARTBEAT_FAILURES.labels(venue=venue)


def watch_books(venue: str, age_seconds: Callable[[], float], stale: Callable[[], int]) -> None:
    """Book age and staleness are computed at scrape time, costing the tick path nothing."""
    BOOK_AGE.labels(venue=venue).set_function(age_seconds)
    BOOKS_STALE.labels(venue=venue).set_function(stale)


class SagaMetrics:
    """One tenant's saga children. The saga service calls these at its decision points."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.taken = OPPORTUNITIES_TAKEN.labels(tenant=tenant)
        self.expired = OPPORTUNITIES_EXPIRED.labels(tenant=tenant)
        self.in_flight = SAGAS_IN_FLIGHT.labels(tenant=tenant)
        self.held = SAGAS_HELD.labels(tenant=tenant)
        self.unhedged = UNHEDGED_EXPOSURE.labels(tenant=tenant)
        self.locked_in_pnl = LOCKED_IN_PNL.labels(tenant=tenant)
        self._hops = {name: hop(name) for name in HOPS[2:]}
        self._ticks = {name: tick(name) for name in HOPS[2:]}
        self._finished = {s: SAGAS_FINISHED.labels(tenant=tenant, state=s) for s in SAGA_END_STATES}
        self._durations = {s: SAGA_DURATION.labels(tenant=tenant, state=s) for s in SAGA_END_STATES}
        self._strategies = {s: SAGA_COMPENSATIONS.labels(tenant=tenant, strategy=s)
                            for s in STRATEGIES}
        self._orders: dict[str, Counter] = {}
        self._fills: dict[str, Counter] = {}

    def stage(self, name: str, source_received_micros: int, since_micros: int, now: int) -> None:
        """Record reaching stage `name`: hop latency since the previous stage's wall time
        `since_micros`, tick latency since the venue message (`source_received_micros`)."""
        exemplar = tracing.exemplar()
        self._hops[name].observe(max(0, now - since_micros) / 1e6, exemplar)
        self._ticks[name].observe(max(0, now - source_received_micros) / 1e6, exemplar)

    def order_sent(self, venue: Venue) -> None:
        child = self._orders.get(venue)
        if child is None:
            child = self._orders[venue] = ORDERS_SENT.labels(tenant=self.tenant,
                                                             venue=venue)
        child.inc()

    def fill(self, venue: Venue) -> None:
        child = self._fills.get(venue)
        if child is None:
            child = self._fills[venue] = FILLS.labels(tenant=self.tenant, venue=venue)
        child.inc()

    def compensation(self, strategy: str) -> None:
        self._strategies[_checked(strategy, STRATEGIES)].inc()

    def finished(self, state: str, duration_seconds: float, realized_pnl_micros: int) -> None:
        """A saga reached terminal `state` (lower-case State name)."""
        self._finished[state].inc()
        self._durations[state].observe(duration_seconds, tracing.exemplar())
        self.locked_in_pnl.inc(realized_pnl_micros / 1e6)
        if state == "held":
            self.held.inc()

    def watch(self, in_flight: Callable[[], int], unhedged_contracts: Callable[[], float]) -> None:
        """Gauges of the saga book, computed when scraped."""
        self.in_flight.set_function(in_flight)
        self.unhedged.set_function(unhedged_contracts)


class RiskMetrics:
    """One tenant's risk children."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.checks = RISK_CHECKS.labels(tenant=tenant)
        self.hard_stop = HARD_STOP.labels(tenant=tenant)
        self._rejections: dict[str, Counter] = {}

    def watch_hard_stop(self, latched: Callable[[], bool]) -> None:
        """The latch gauge reads the risk state when scraped (monitors latch it too)."""
        self.hard_stop.set_function(lambda: float(latched()))

    def watch_exposure(self, held_cost: Callable[[], float]) -> None:
        """The exposure gauge reads the risk ledger when scraped: it rises with fills and
        falls when a settlement (or a merge) closes positions."""
        EXPOSURE.labels(tenant=self.tenant).set_function(held_cost)

    def watch_funds(self, venue: Venue, free: Callable[[], float], low: Callable[[], bool]
                    ) -> None:
        """The funds gauges read the risk state when scraped."""
        FUNDS_FREE.labels(tenant=self.tenant, venue=venue).set_function(free)
        FUNDS_LOW.labels(tenant=self.tenant, venue=venue).set_function(lambda: float(low()))

    def decided(self, approved: bool, gate: str) -> None:
        self.checks.inc()
        if not approved:
            child = self._rejections.get(gate)
            if child is None:
                child = self._rejections[gate] = RISK_REJECTIONS.labels(tenant=self.tenant,
                                                                       gate=gate)
            child.inc()


def render(accept: str = "") -> tuple[bytes, str]:
    """The registry in the format the scraper asked for: OpenMetrics (with exemplars) when
    its Accept header names it, the classic text format otherwise."""
    encoder, content_type = choose_encoder(accept)
    return encoder(REGISTRY), content_type



def forget_venue(venue: Venue) -> None:
    """Drop every series labelled with `venue`: a venue taken out of the registry (a test
    venue, an unloaded plugin) leaves none behind, so the venue label stays bounded by the
    registered venues."""
    labelled = [m for m in globals().values() if isinstance(m, (Counter, Gauge, Histogram))
                and "venue" in m._labelnames]  # prometheus_client has no public accessor
    for metric in labelled:
        names = metric._labelnames
        series = {tuple(s.labels[n] for n in names) for family in metric.collect()
                  for s in family.samples if s.labels.get("venue") == venue}
        for values in series:
            metric.remove(*values)

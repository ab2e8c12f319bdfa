"""Bus topic names and their keys (one place, so producers and consumers agree)."""

BOOKS = "md.books"  # BookEvent, key venue:market — gateways -> detector, orderbook
OPPORTUNITIES = "opportunities"  # Opportunity, key pair id — detector -> saga
EXEC_REPORTS = "exec.reports"  # ExecutionReport, key saga id — gateways -> saga, risk
SAGA_EVENTS = "saga.events"  # SagaEvent, key saga id — saga -> control
BOOK_RESYNC = "md.resync"  # BookResyncRequest, key venue:market — orderbook -> gateways

ALL = (BOOKS, OPPORTUNITIES, EXEC_REPORTS, SAGA_EVENTS, BOOK_RESYNC)

"""Nonce allocation for venues that order requests by a per-signer nonce.

Two designs, each proven on a venue:

* :class:`SequentialNonceAllocator`: per ``(account, api_key)`` counters seeded from the venue's
  next nonce and then incremented locally (optimistic), as Lighter-style venues require.
  Allocations may run at most ``skip_window`` ahead of the last nonce the venue confirmed; the
  latest allocation can be rolled back when its request failed before reaching the venue (an
  older one cannot: it stays a gap, which a skip-window venue accepts); ``seed`` restarts a key
  from the venue's next nonce after an invalid-nonce reply or a restart. The allocator does no
  I/O: the gateway reads the venue and seeds it, so the arithmetic stays pure and testable.
* :class:`TimeNonceAllocator`: ``max(now_ms + server_offset, last + 1)`` per signer, as
  Hyperliquid-style venues require, with the offset synchronised to the venue clock and
  warnings / errors when allocations or the clock drift too far.

Both are thread-safe: one lock per allocator, held only for arithmetic, never during I/O.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class NonceError(RuntimeError):
    """A nonce that cannot be allocated or returned safely."""


class NonceWindowExhausted(NonceError):
    """Too many allocations are unconfirmed; wait for confirmations or refresh."""


class NonceNotSeeded(NonceError):
    """A key the venue's next nonce was never read for: seed it first."""


class NonceDriftError(NonceError):
    """Allocations or the local clock moved further from the venue clock than allowed."""


@dataclass
class _KeyState:
    next_nonce: int
    confirmed_below: int
    """Every nonce below this one is known to the venue (the seed or a confirmation)."""
    issued_below: int
    """Every nonce ever handed out for this key is below this one, across seeds."""


class SequentialNonceAllocator:
    """Optimistic sequential nonces per key, seeded (and re-seeded) with the venue's next one.

    Rolling back is allowed only for the most recent allocation of a key: returning an older
    nonce would leave a gap behind later, already-sent nonces, so it raises :class:`NonceError`
    instead of silently corrupting the sequence.
    """

    def __init__(self, skip_window: int = 64) -> None:
        if skip_window < 1:
            raise ValueError(f"skip_window {skip_window} must be >= 1")
        self.skip_window = skip_window
        self._state: dict[Hashable, _KeyState] = {}
        self._lock = threading.Lock()

    def seeded(self, key: Hashable) -> bool:
        return key in self._state

    def seed(self, key: Hashable, next_nonce: int) -> None:
        """Start ``key`` at the venue's next nonce (at start, after a restart, or after an
        invalid-nonce reply); nonces still in flight from before stay known as issued."""
        if next_nonce < 0:
            raise NonceError(f"{key!r}: the venue's next nonce {next_nonce} is negative")
        with self._lock:
            old = self._state.get(key)
            issued = max(next_nonce, old.issued_below if old else 0)
            self._state[key] = _KeyState(next_nonce, next_nonce, issued)

    def _seeded_state(self, key: Hashable) -> _KeyState:
        state = self._state.get(key)
        if state is None:
            raise NonceNotSeeded(f"{key!r}: no nonce read from the venue yet")
        return state

    def allocate(self, key: Hashable) -> int:
        """The next nonce for ``key``; raises once ``skip_window`` nonces are unconfirmed."""
        with self._lock:
            state = self._seeded_state(key)
            if state.next_nonce - state.confirmed_below >= self.skip_window:
                raise NonceWindowExhausted(
                    f"{key!r}: {state.next_nonce - state.confirmed_below} nonces unconfirmed "
                    f"(window {self.skip_window})"
                )
            nonce = state.next_nonce
            state.next_nonce += 1
            state.issued_below = max(state.issued_below, state.next_nonce)
            return nonce

    def rollback(self, key: Hashable, nonce: int) -> None:
        """Give back ``nonce`` whose request never reached the venue; only the latest one."""
        with self._lock:
            state = self._state.get(key)
            if state is None or nonce != state.next_nonce - 1 or nonce < state.confirmed_below:
                latest = None if state is None else state.next_nonce - 1
                raise NonceError(
                    f"{key!r}: can only roll back the latest unconfirmed nonce {latest}, not {nonce}"
                )
            state.next_nonce = nonce

    def confirm(self, key: Hashable, nonce: int) -> None:
        """Record that the venue accepted ``nonce`` (and so every nonce before it). A nonce
        at or past ``next`` was sent before the last ``seed`` and landed after the venue was
        read: the venue took it, so the sequence moves past it."""
        with self._lock:
            state = self._state.get(key)
            if state is None or nonce >= state.issued_below:
                raise NonceError(f"{key!r}: nonce {nonce} was never allocated")
            state.confirmed_below = max(state.confirmed_below, nonce + 1)
            state.next_nonce = max(state.next_nonce, nonce + 1)

    def unconfirmed(self, key: Hashable) -> int:
        """Nonces handed out for ``key`` that the venue has not confirmed (0 when unseeded)."""
        with self._lock:
            state = self._state.get(key)
            return 0 if state is None else state.next_nonce - state.confirmed_below


class TimeNonceAllocator:
    """Strictly increasing millisecond nonces tracking the venue's clock.

    ``server_time_ms`` reads the venue clock (e.g. its /time endpoint); :meth:`sync` stores the
    offset against the local clock, measured at the midpoint of the request. A clock offset
    above ``warn_ms`` logs a warning and above ``max_ms`` raises. Allocations that run ahead of
    the synchronised clock (bursts above 1000/s) are checked against the same thresholds,
    because venues accept nonces only within a window of their own time.
    """

    def __init__(
        self,
        server_time_ms: Callable[[], int],
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        warn_ms: int = 1_000,
        max_ms: int = 30_000,
    ) -> None:
        if not 0 < warn_ms <= max_ms:
            raise ValueError(f"need 0 < warn_ms ({warn_ms}) <= max_ms ({max_ms})")
        self._server_time_ms = server_time_ms
        self._clock_ms = clock_ms
        self._warn_ms = warn_ms
        self._max_ms = max_ms
        self._offset_ms = 0
        self._last = 0
        self._lock = threading.Lock()

    @property
    def offset_ms(self) -> int:
        """Venue clock minus local clock, as of the last :meth:`sync`."""
        return self._offset_ms

    def _check(self, what: str, drift_ms: int) -> None:
        if abs(drift_ms) > self._max_ms:
            raise NonceDriftError(f"{what} {drift_ms} ms exceeds the limit of {self._max_ms} ms")
        if abs(drift_ms) > self._warn_ms:
            log.warning("%s %d ms exceeds %d ms", what, drift_ms, self._warn_ms)

    def sync(self) -> int:
        """Measure the venue clock offset; returns it in milliseconds."""
        before = self._clock_ms()
        server = self._server_time_ms()
        after = self._clock_ms()
        offset = server - (before + after) // 2
        self._check("local clock offset from the venue", offset)
        with self._lock:
            self._offset_ms = offset
        return offset

    def allocate(self) -> int:
        """``max(now + offset, last + 1)``; raises when that runs too far ahead of the venue."""
        with self._lock:
            now = self._clock_ms() + self._offset_ms
            nonce = max(now, self._last + 1)
            self._check("nonce lead over the venue clock", nonce - now)
            self._last = nonce
            return nonce

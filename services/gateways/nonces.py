"""Nonce allocation for venues that order requests by a per-signer nonce.

Two designs, each proven on a venue:

* :class:`SequentialNonceAllocator`: per ``(account, api_key)`` counters fetched from the venue
  once and then incremented locally (optimistic), as Lighter-style venues require. Allocations
  may run at most ``skip_window`` ahead of the last nonce the venue confirmed; the latest
  allocation can be rolled back when its request failed before reaching the venue; ``refresh``
  re-reads the venue's next nonce after an invalid-nonce error.
* :class:`TimeNonceAllocator`: ``max(now_ms + server_offset, last + 1)`` per signer, as
  Hyperliquid-style venues require, with the offset synchronised to the venue clock and
  warnings / errors when allocations or the clock drift too far.

Both are thread-safe: one lock per allocator, held only for arithmetic (never during I/O
except the venue fetch that seeds an unknown key, which must not race a second fetch).
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


class NonceDriftError(NonceError):
    """Allocations or the local clock moved further from the venue clock than allowed."""


@dataclass
class _KeyState:
    next_nonce: int
    confirmed_below: int
    """Every nonce below this one is known to the venue (the refresh base or a confirmation)."""


class SequentialNonceAllocator:
    """Optimistic sequential nonces per key, seeded and re-seeded by ``fetch_next(key)``.

    Rolling back is allowed only for the most recent allocation of a key: returning an older
    nonce would leave a gap behind later, already-sent nonces, so it raises :class:`NonceError`
    instead of silently corrupting the sequence.
    """

    def __init__(self, fetch_next: Callable[[Hashable], int], skip_window: int = 64) -> None:
        if skip_window < 1:
            raise ValueError(f"skip_window {skip_window} must be >= 1")
        self._fetch_next = fetch_next
        self._skip_window = skip_window
        self._state: dict[Hashable, _KeyState] = {}
        self._lock = threading.Lock()

    def _key_state(self, key: Hashable) -> _KeyState:
        state = self._state.get(key)
        if state is None:
            first = self._fetch_next(key)
            state = self._state[key] = _KeyState(first, first)
        return state

    def allocate(self, key: Hashable) -> int:
        """The next nonce for ``key``; raises once ``skip_window`` nonces are unconfirmed."""
        with self._lock:
            state = self._key_state(key)
            if state.next_nonce - state.confirmed_below >= self._skip_window:
                raise NonceWindowExhausted(
                    f"{key!r}: {state.next_nonce - state.confirmed_below} nonces unconfirmed "
                    f"(window {self._skip_window})"
                )
            nonce = state.next_nonce
            state.next_nonce += 1
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
        """Record that the venue accepted ``nonce`` (and so every nonce before it)."""
        with self._lock:
            state = self._state.get(key)
            if state is None or nonce >= state.next_nonce:
                raise NonceError(f"{key!r}: nonce {nonce} was never allocated")
            state.confirmed_below = max(state.confirmed_below, nonce + 1)

    def refresh(self, key: Hashable) -> int:
        """Re-read the venue's next nonce (after an invalid-nonce reply) and restart from it."""
        first = self._fetch_next(key)
        with self._lock:
            self._state[key] = _KeyState(first, first)
        return first


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

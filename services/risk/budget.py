"""Order-rate budget: a token bucket in integer micro-tokens on an injected clock."""

from __future__ import annotations

_UNIT = 1_000_000  # micro-tokens per token


class TokenBucket:
    """`rate` tokens a second, at most `burst` banked. Not thread-safe: the gate chain's
    lock makes take-and-reserve one step."""

    __slots__ = ("_burst", "_level", "_rate", "_stamp")

    def __init__(self, rate: int, burst: int, now_micros: int) -> None:
        self._rate = rate
        self._burst = burst * _UNIT
        self._level = self._burst
        self._stamp = now_micros

    def _refill(self, now_micros: int) -> None:
        if now_micros > self._stamp:
            # rate tokens/s = rate micro-tokens per microsecond
            self._level = min(self._burst, self._level + (now_micros - self._stamp) * self._rate)
            self._stamp = now_micros

    def wait(self, tokens: int, now_micros: int) -> int:
        """Micros until `tokens` are banked (0: now); reads only, so a gate may ask."""
        level = self._level
        if now_micros > self._stamp:
            level = min(self._burst, level + (now_micros - self._stamp) * self._rate)
        need = tokens * _UNIT
        return 0 if level >= need else -(-(need - level) // self._rate)

    def take(self, tokens: int, now_micros: int) -> int:
        """Take `tokens` if banked and return 0; else take nothing and return the micros
        until they will be."""
        self._refill(now_micros)
        need = tokens * _UNIT
        if self._level >= need:
            self._level -= need
            return 0
        return -(-(need - self._level) // self._rate)

    def resize(self, rate: int, burst: int, now_micros: int) -> None:
        """Apply new limits without minting tokens: what is banked stays, capped."""
        self._refill(now_micros)
        self._rate, self._burst = rate, burst * _UNIT
        self._level = min(self._level, self._burst)

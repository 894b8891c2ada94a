"""Sign-in throttling: failures are counted per user name and per client address; past
`max_failures` within the window, further attempts are refused without checking the token for a
hold-off that doubles with each further failure (up to a maximum). A success clears the user's
and the address's count."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class LoginThrottle:
    def __init__(
        self,
        max_failures: int,
        backoff_seconds: float,
        backoff_max_seconds: float,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
    ):
        self.max_failures, self.backoff, self.backoff_max, self.window = (
            max_failures,
            backoff_seconds,
            backoff_max_seconds,
            window_seconds,
        )
        self.clock = clock
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._fails.get(key, []) if now - t <= self.window]
        if times:
            self._fails[key] = times
        else:
            self._fails.pop(key, None)
        return times

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until any of `keys` may try again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                over = len(times) - self.max_failures
                if over >= 0:
                    hold = min(self.backoff * (2**over), self.backoff_max)
                    wait = max(wait, times[-1] + hold - now)
        return max(0.0, wait)

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._fails.setdefault(key, []).append(now)

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._fails.pop(key, None)


def throttle_keys(name: str | None, client: str | None) -> list[str]:
    keys = [f"client:{client or 'unknown'}"]
    if name:
        keys.append(f"user:{name}")
    return keys

"""A process-wide, bounded cache shared by every browser session of the dashboard.

Streamlit's ``st.cache_resource`` replays the elements a cached function draws, which rules out
a live progress bar while a model trains. :class:`SharedLRU` keeps the same promise (computed
once per key for the whole server, results shared read-only by all sessions) and lets the caller
report progress: each key has its own lock, so thirty students moving the same slider train the
model once while the others wait for that result, and the least recently used entries are
dropped beyond ``max_entries`` so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedLRU(Generic[T]):
    """Thread-safe least-recently-used cache with one compute lock per key."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def get(self, key: Hashable) -> T | None:
        """The cached value (marked as recently used) or None."""
        with self._lock:
            if key not in self._values:
                return None
            self._values.move_to_end(key)
            return self._values[key]

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value for ``key``, computing it with ``compute()`` once if absent (others wait for it)."""
        hit = self.get(key)
        if hit is not None:
            return hit
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            try:
                hit = self.get(key)
                if hit is not None:
                    return hit
                value = compute()
                with self._lock:
                    self._values[key] = value
                    self._values.move_to_end(key)
                    while len(self._values) > self.max_entries:
                        self._values.popitem(last=False)
                return value
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

"""The Monte Carlo's random draws: per-chunk generators, the stationary bootstrap's indices, and a
bounded cache of bootstrap row indices.

Which historical rows a bootstrap path draws depends only on the seed, the chunk, the chunk's
size, the horizon, the history's length and the method, never on the portfolio. So runs that
share those (every default ``POST /api/rebalance`` on the same symbols, the desktop's re-runs
after an edit) reuse the same indices instead of drawing millions of integers again: common
random numbers, with results identical to drawing afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["INDEX_CACHE_BYTES", "bootstrap_indices", "chunk_generator", "clear_index_cache",
           "stationary_bootstrap_indices"]

#: Bytes of bootstrap indices kept, least recently used dropped first (the default run, 10,000
#: paths × 252 steps, holds 20 MB). A chunk larger than a quarter of this is never kept.
INDEX_CACHE_BYTES = 64 * 2**20


def chunk_generator(seed: int, chunk: int) -> np.random.Generator:
    """Generator of chunk ``chunk``: identical to ``default_rng(SeedSequence(seed).spawn(n)[chunk])``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk,)))


def stationary_bootstrap_indices(rng: np.random.Generator, n_paths: int, horizon: int, n_obs: int,
                                 mean_block_length: float) -> np.ndarray:
    """Row indices of the stationary bootstrap (Politis & Romano, 1994), fully vectorised.

    Each step starts a new block with probability ``p = 1 / mean_block_length`` (always at step
    0), at a uniformly drawn row; otherwise it takes the next row of history, wrapping round
    circularly. Block lengths are therefore geometric with mean ``mean_block_length``.

    Returns
    -------
    ndarray of int64, shape (n_paths, horizon)
        Indices into ``0 .. n_obs - 1``.
    """
    restart = rng.random((n_paths, horizon)) < 1.0 / mean_block_length
    restart[:, 0] = True
    flat = restart.ravel()
    block = np.cumsum(flat) - 1                       # block number of each step
    block_start = np.flatnonzero(flat)                # flat position where each block starts
    first_row = rng.integers(0, n_obs, size=block_start.size)
    offset = np.arange(flat.size) - block_start[block]
    return ((first_row[block] + offset) % n_obs).reshape(n_paths, horizon)


def _draw(method: str, seed: int, chunk: int, n_paths: int, horizon: int, n_obs: int,
          mean_block_length: float) -> np.ndarray:
    rng = chunk_generator(seed, chunk)
    if method == "bootstrap":
        idx = rng.integers(0, n_obs, size=(n_paths, horizon))
    else:
        idx = stationary_bootstrap_indices(rng, n_paths, horizon, n_obs, mean_block_length)
    return np.ascontiguousarray(idx.T)


class _IndexCache:
    """Read-only index arrays by draw key, within a byte budget (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, value: np.ndarray) -> None:
        if value.nbytes > self.budget // 4:
            return
        value.setflags(write=False)
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_CACHE = _IndexCache(INDEX_CACHE_BYTES)


def clear_index_cache() -> None:
    """Forget every kept draw (tests use it to compare fresh and reused draws)."""
    _CACHE.clear()


def bootstrap_indices(method: str, seed: int, chunk: int, n_paths: int, horizon: int, n_obs: int,
                      mean_block_length: float = 10.0) -> np.ndarray:
    """Row indices of one chunk of a ``bootstrap`` or ``block_bootstrap`` run, step-major:
    shape (horizon, n_paths), column ``p`` is path ``p``.

    Exactly what ``chunk_generator(seed, chunk)`` draws (i.i.d. rows, or
    :func:`stationary_bootstrap_indices` for ``block_bootstrap``), transposed, and served from a
    bounded cache when the same draw was made before. The array is read-only. Step-major, so a
    path's product over steps is a reduction across rows that runs over all paths at once.
    """
    block = float(mean_block_length) if method == "block_bootstrap" else 0.0
    key = (method, int(seed), int(chunk), int(n_paths), int(horizon), int(n_obs), block)
    found = _CACHE.get(key)
    if found is None:
        found = _draw(method, seed, chunk, n_paths, horizon, n_obs, block)
        _CACHE.put(key, found)
    return found

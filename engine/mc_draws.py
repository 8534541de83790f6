"""The Monte Carlo's random draws: per-chunk generators, the stationary bootstrap's indices, and a
bounded cache of whole runs' bootstrap row indices.

Which historical rows a bootstrap path draws depends only on the seed, the number of paths, the
horizon, the history's length and the method, never on the portfolio. So runs that share those
(every default ``POST /api/rebalance`` on the same symbols, the desktop's re-runs after an edit)
reuse the same indices instead of drawing millions of integers again: common random numbers,
with results identical to drawing afresh. Runs too large to keep draw chunk by chunk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["CHUNK_PATHS", "INDEX_CACHE_BYTES", "bootstrap_indices", "chunk_generator", "clear_index_cache",
           "kept_run", "run_indices", "stationary_bootstrap_indices"]

#: Paths per chunk. Fixed, because each chunk owns one child seed: changing it changes results.
CHUNK_PATHS = 2_048
#: Bytes of bootstrap indices kept, least recently used dropped first. The default run (10,000
#: paths × 252 steps) holds 20 MB; a run larger than a third of this is never kept.
INDEX_CACHE_BYTES = 96 * 2**20


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
    return idx.T


class _IndexCache:
    """Index arrays (a run's chunks, shared and never written) by draw key, within a byte budget
    (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[tuple, tuple[np.ndarray, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[np.ndarray, ...] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.budget // 3

    def put(self, key: tuple, value: tuple[np.ndarray, ...]) -> None:
        nbytes = sum(a.nbytes for a in value)
        if not self.fits(nbytes):
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += nbytes
            while self._bytes > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= sum(a.nbytes for a in dropped)

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
    shape (horizon, n_paths), column ``p`` is path ``p`` of the chunk.

    Exactly what ``chunk_generator(seed, chunk)`` draws (i.i.d. rows, or
    :func:`stationary_bootstrap_indices` for ``block_bootstrap``), transposed. Step-major, so a
    path's product over steps is a reduction across rows that runs over all paths at once.
    """
    block = float(mean_block_length) if method == "block_bootstrap" else 0.0
    return np.ascontiguousarray(_draw(method, seed, chunk, n_paths, horizon, n_obs, block))


def run_indices(method: str, seed: int, paths: int, horizon: int, n_obs: int,
                mean_block_length: float = 10.0) -> tuple[np.ndarray, ...] | None:
    """Every chunk's :func:`bootstrap_indices`, in chunk order, as read-only views, kept for the
    next run with the same draws; ``None`` when the run is too large to keep (the caller then
    draws chunk by chunk, and the kept runs of other callers stay)."""
    found = kept_run(method, seed, paths, horizon, n_obs, mean_block_length)
    if found is None:
        return None
    views = tuple(a.view() for a in found)
    for v in views:
        v.setflags(write=False)
    return views


def kept_run(method: str, seed: int, paths: int, horizon: int, n_obs: int,
             mean_block_length: float = 10.0) -> tuple[np.ndarray, ...] | None:
    """:func:`run_indices` without the read-only views: the kept arrays themselves, shared by
    every run with these draws, so **never write to them**. For ``np.take``, which copies an
    index array it cannot write to (numpy asks for a writable array), 4 MB per chunk."""
    if not _CACHE.fits(8 * paths * horizon):
        return None
    block = float(mean_block_length) if method == "block_bootstrap" else 0.0
    key = (method, int(seed), int(paths), int(horizon), int(n_obs), block)
    found = _CACHE.get(key)
    if found is None:
        found = tuple(bootstrap_indices(method, seed, i, min(CHUNK_PATHS, paths - a), horizon, n_obs, block)
                      for i, a in enumerate(range(0, paths, CHUNK_PATHS)))
        _CACHE.put(key, found)
    return found

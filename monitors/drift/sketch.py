"""A mergeable, bounded summary of one numeric column: an adaptive histogram in float-bit space.

Every finite value is mapped to its order-preserving 64-bit key (the IEEE-754 bits with the sign
folded), and values are grouped into bins ``key >> shift``. A bin stores its count and the smallest
and largest value it holds. ``shift`` is the smallest for which at most ``max_bins`` bins are
occupied, so:

* a column with at most ``max_bins`` distinct values is kept exactly (``shift == 0``: each bin is
  one value with its count);
* otherwise bins are as fine as the budget allows, following where the data actually are (an
  offset column such as ``N(1000, 1)`` gets narrow bins around 1000, a heavy tail gets log-spaced
  bins);
* merging is exact and order-free: coarsening a bin to a larger shift is ``id >> extra`` with
  counts summed and min/max taken, so the merge of chunk sketches is bit for bit the sketch of the
  whole (the whole's shift is never smaller than a chunk's, and occupancy only falls as the shift
  grows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_BINS = 1 << 15

_SIGN = np.uint64(1 << 63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving unsigned keys of float64 values (``-0.0`` must already be folded to ``0.0``)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return bits ^ np.where((bits >> np.uint64(63)).astype(bool), _ALL, _SIGN)


def _smallest_shift(ids: np.ndarray, max_bins: int) -> int:
    """The smallest shift leaving at most ``max_bins`` distinct values of sorted ``ids``.

    Two neighbours fall in one bin at shift ``s`` exactly when their XOR is below ``2**s``, so the
    number of bins at ``s`` is one plus the number of neighbour XORs at or above ``2**s``.
    """
    if ids.size <= max_bins:
        return 0
    xor = ids[1:] ^ ids[:-1]
    if np.count_nonzero(xor) < max_bins:
        return 0
    lo, hi = 0, 64  # bins(lo) > max_bins; bins(64) == 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if np.count_nonzero(xor >= np.uint64(1 << mid)) < max_bins:
            hi = mid
        else:
            lo = mid
    return hi


def _group_sorted(ids: np.ndarray) -> np.ndarray:
    """Start offsets of runs of equal values in a sorted array."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.intp)
    change = np.empty(ids.size, dtype=bool)
    change[0] = True
    np.not_equal(ids[1:], ids[:-1], out=change[1:])
    return np.flatnonzero(change)


@dataclass(frozen=True, eq=False)
class NumericSketch:
    """Bins of a numeric column's finite values, sorted by value.

    Attributes
    ----------
    shift : int
        Bits dropped from the value keys; 0 means the sketch is exact (one bin per distinct value).
    ids : numpy.ndarray
        Bin ids (``key >> shift``), increasing.
    counts, lows, highs : numpy.ndarray
        Per bin: number of values, smallest and largest value.
    max_bins : int
        The bin budget this sketch was built under.
    """

    shift: int
    ids: np.ndarray
    counts: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    max_bins: int = DEFAULT_MAX_BINS

    @property
    def exact(self) -> bool:
        """True when every bin holds a single distinct value."""
        return self.shift == 0

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @property
    def n_bins(self) -> int:
        return int(self.ids.size)

    @classmethod
    def empty(cls, max_bins: int = DEFAULT_MAX_BINS) -> NumericSketch:
        return cls(
            0,
            np.zeros(0, np.uint64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros(0, np.float64),
            max_bins,
        )

    @classmethod
    def from_values(cls, values: np.ndarray, max_bins: int = DEFAULT_MAX_BINS) -> NumericSketch:
        """Sketch finite float64 values (NaN and infinities must already be removed)."""
        x = np.sort(np.asarray(values, dtype=np.float64))
        if x.size == 0:
            return cls.empty(max_bins)
        x += 0.0  # folds -0.0 into 0.0 (sorting keeps them together, so x stays sorted)
        keys = sortable_keys(x)
        shift = _smallest_shift(keys, max_bins)
        ids = keys >> np.uint64(shift) if shift else keys
        starts = _group_sorted(ids)
        ends = np.append(starts[1:], x.size)
        return cls(shift, ids[starts], (ends - starts).astype(np.int64), x[starts], x[ends - 1], max_bins)

    def coarsen(self, shift: int) -> NumericSketch:
        """The same data at a larger ``shift``."""
        if shift == self.shift:
            return self
        ids = self.ids >> np.uint64(shift - self.shift)
        starts = _group_sorted(ids)
        return NumericSketch(
            shift,
            ids[starts],
            np.add.reduceat(self.counts, starts) if starts.size else self.counts,
            np.minimum.reduceat(self.lows, starts) if starts.size else self.lows,
            np.maximum.reduceat(self.highs, starts) if starts.size else self.highs,
            self.max_bins,
        )

    def merge(self, other: NumericSketch) -> NumericSketch:
        """The sketch of both sketches' data together (exact and order-free)."""
        max_bins = min(self.max_bins, other.max_bins)
        if other.ids.size == 0 and max_bins == self.max_bins:
            return self
        if self.ids.size == 0 and max_bins == other.max_bins:
            return other
        shift = max(self.shift, other.shift)
        a, b = self.coarsen(shift), other.coarsen(shift)
        ids = np.concatenate([a.ids, b.ids])
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        counts = np.concatenate([a.counts, b.counts])[order]
        lows = np.concatenate([a.lows, b.lows])[order]
        highs = np.concatenate([a.highs, b.highs])[order]
        starts = _group_sorted(ids)
        merged = NumericSketch(
            shift,
            ids[starts],
            np.add.reduceat(counts, starts),
            np.minimum.reduceat(lows, starts),
            np.maximum.reduceat(highs, starts),
            max_bins,
        )
        extra = _smallest_shift(merged.ids, max_bins)
        return merged.coarsen(shift + extra) if extra else merged

"""A mergeable, bounded summary of one numeric column: an adaptive histogram in float-bit space.

Every finite value is mapped to its order-preserving 64-bit key (the IEEE-754 bits with the sign
folded), and values are grouped into bins ``key >> shift``; a bin stores its count, the sketch the
column's smallest and largest value. ``shift`` is the smallest for which at most ``max_bins`` bins
are occupied, so:

* a column with at most ``max_bins`` distinct values is kept exactly (``shift == 0``: each bin is
  one value with its count);
* otherwise bins are as fine as the budget allows, following where the data actually are (an
  offset column such as ``N(1000, 1)`` gets narrow bins around 1000, a heavy tail gets log-spaced
  bins);
* merging is exact and order-free: coarsening a bin to a larger shift is ``id >> extra`` with
  counts summed, so the merge of chunk sketches is bit for bit the sketch of the whole (the whole's shift is never smaller than a chunk's, and occupancy only falls as the shift
  grows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

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


def float_values(keys: np.ndarray) -> np.ndarray:
    """The float64 values of order-preserving keys (the inverse of :func:`sortable_keys`)."""
    keys = np.asarray(keys, dtype=np.uint64)
    bits = keys ^ np.where((keys >> np.uint64(63)).astype(bool), _SIGN, _ALL)
    return bits.view(np.float64)


_NEGATIVE_ZERO_KEY = np.uint64((1 << 63) - 1)
_POSITIVE_ZERO_KEY = np.uint64(1 << 63)
_FINE_SLOTS_LOG2 = 20  # the O(n) path counts values in at most 1M fine slots
_MANTISSA_BITS = 52


def _binned_by_slots(keys: np.ndarray, max_bins: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Sorted ids and counts at a shift ``s0`` where more than ``max_bins`` bins are occupied.

    Values are counted (``bincount``, no sort) in fixed slots: each occupied binade (sign and
    exponent) gets the same number of mantissa prefixes, as many as ~1M slots allow. If more than
    ``max_bins`` slots are occupied, the final shift is at least ``s0`` and the bins follow from
    the slot counts exactly; otherwise None (the caller hashes or sorts instead).
    """
    binade = keys >> np.uint64(_MANTISSA_BITS)  # sign and exponent: 4096 possible values
    occupied_binades = np.flatnonzero(np.bincount(binade.astype(np.intp), minlength=4096))
    per_binade = _FINE_SLOTS_LOG2 - int(occupied_binades.size - 1).bit_length()
    shift = _MANTISSA_BITS - per_binade
    rank = np.zeros(4096, dtype=np.intp)
    rank[occupied_binades] = np.arange(occupied_binades.size)
    mask = (1 << per_binade) - 1
    slots = (rank[binade] << per_binade) | ((keys >> np.uint64(shift)).astype(np.intp) & mask)
    fine = np.bincount(slots, minlength=occupied_binades.size << per_binade)
    occupied = np.flatnonzero(fine)
    if occupied.size <= max_bins:
        return None
    ids = (occupied_binades[occupied >> per_binade].astype(np.uint64) << np.uint64(per_binade)) | (
        occupied & mask
    ).astype(np.uint64)
    return ids, fine[occupied].astype(np.int64), shift


@dataclass(frozen=True, eq=False)
class NumericSketch:
    """Bins of a numeric column's finite values, in increasing order.

    A bin is the set of values whose key shares its top ``64 - shift`` bits. Only the bin ids and
    counts, and the exact smallest and largest value, are stored: everything is a deterministic
    function of the data, which is what makes merging exact. A binned sketch spreads each bin's
    count uniformly over the bin's value range (clipped to the column's minimum and maximum).

    Attributes
    ----------
    shift : int
        Key bits dropped; 0 means the sketch is exact (one bin per distinct value).
    ids : numpy.ndarray
        Bin ids (``key >> shift``), increasing.
    counts : numpy.ndarray
        Values per bin.
    vmin, vmax : float
        The smallest and largest value (NaN when the sketch is empty).
    max_bins : int
        The bin budget this sketch was built under.
    """

    shift: int
    ids: np.ndarray
    counts: np.ndarray
    vmin: float = float("nan")
    vmax: float = float("nan")
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

    @cached_property
    def lows(self) -> np.ndarray:
        """Smallest value each bin can hold (the value itself when exact)."""
        if self.shift == 0:
            return float_values(self.ids)
        return np.fmax(float_values(self.ids << np.uint64(self.shift)), self.vmin)

    @cached_property
    def highs(self) -> np.ndarray:
        """Largest value each bin can hold (the value itself when exact)."""
        if self.shift == 0:
            return self.lows
        low_bits = np.uint64((1 << self.shift) - 1)
        return np.fmin(float_values((self.ids << np.uint64(self.shift)) | low_bits), self.vmax)

    @classmethod
    def empty(cls, max_bins: int = DEFAULT_MAX_BINS) -> NumericSketch:
        return cls(0, np.zeros(0, np.uint64), np.zeros(0, np.int64), max_bins=max_bins)

    @classmethod
    def _from_sorted_ids(
        cls, ids: np.ndarray, counts: np.ndarray | None, shift: int, vmin: float, vmax: float, max_bins: int
    ) -> NumericSketch:
        """Bins from sorted ids at ``shift`` (with counts per id, or one value per entry)."""
        extra = _smallest_shift(ids, max_bins)
        if extra:
            ids = ids >> np.uint64(extra)
        starts = _group_sorted(ids)
        if counts is None:
            counts = np.diff(np.append(starts, ids.size)).astype(np.int64)
        else:
            counts = np.add.reduceat(counts, starts).astype(np.int64)
        return cls(shift + extra, ids[starts], counts, vmin, vmax, max_bins)

    @classmethod
    def from_values(cls, values: np.ndarray, max_bins: int = DEFAULT_MAX_BINS) -> NumericSketch:
        """Sketch finite float64 values (NaN and infinities must already be removed).

        Three paths give the same sketch, the cheapest that applies: count the values in fine
        fixed slots (O(n)) when those alone hold more than ``max_bins`` bins; hash the distinct
        values when there are at most ``max_bins``; sort otherwise.
        """
        x = np.asarray(values, dtype=np.float64)
        if x.size == 0:
            return cls.empty(max_bins)
        keys = sortable_keys(x)
        keys[keys == _NEGATIVE_ZERO_KEY] = _POSITIVE_ZERO_KEY  # -0.0 is 0.0
        kmin, kmax = int(keys.min()), int(keys.max())
        ends = float_values(np.array([kmin, kmax], dtype=np.uint64))
        vmin, vmax = float(ends[0]), float(ends[1])
        if x.size > 8 * max_bins:  # below that, sorting is as cheap as counting 1M slots
            binned = _binned_by_slots(keys, max_bins)
            if binned is not None:
                ids, counts, shift = binned
                return cls._from_sorted_ids(ids, counts, shift, vmin, vmax, max_bins)
        if x.size > max_bins:
            codes, uniques = pd.factorize(keys, sort=False)
            if uniques.size <= max_bins:
                order = np.argsort(uniques)
                counts = np.bincount(codes, minlength=uniques.size)[order].astype(np.int64)
                return cls(0, np.asarray(uniques, dtype=np.uint64)[order], counts, vmin, vmax, max_bins)
        keys.sort()
        return cls._from_sorted_ids(keys, None, 0, vmin, vmax, max_bins)

    def coarsen(self, shift: int) -> NumericSketch:
        """The same data at a larger ``shift``."""
        if shift == self.shift:
            return self
        ids = self.ids >> np.uint64(shift - self.shift)
        starts = _group_sorted(ids)
        counts = np.add.reduceat(self.counts, starts) if starts.size else self.counts
        return NumericSketch(shift, ids[starts], counts, self.vmin, self.vmax, self.max_bins)

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
        counts = np.concatenate([a.counts, b.counts])[order]
        return NumericSketch._from_sorted_ids(
            ids[order],
            counts,
            shift,
            float(np.fmin(self.vmin, other.vmin)),
            float(np.fmax(self.vmax, other.vmax)),
            max_bins,
        )

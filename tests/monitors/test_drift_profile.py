"""Profiles: merging chunks equals profiling the whole; round trips; the binned approximation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from governance.errors import InvalidInput
from monitors.drift import DatasetProfile, NumericSketch, build_profile, detect_drift, merge
from monitors.drift import stattests as st
from monitors.drift.io import profile_path
from tests.monitors.drift_cases import generate_case


def _sketch_state(profile: DatasetProfile) -> dict[str, tuple[object, ...]]:
    state: dict[str, tuple[object, ...]] = {}
    for name, col in profile.columns.items():
        sk = col.sketch
        bins = None if sk is None else (sk.shift, sk.ids.tobytes(), sk.counts.tobytes(), sk.vmin, sk.vmax)
        state[name] = (col.dtype, col.kind, col.rows, col.missing, col.infinite, bins, col.categories)
    return state


@pytest.mark.parametrize("max_bins", [64, 1 << 15])
def test_merged_chunks_equal_the_whole_bit_for_bit(max_bins: int) -> None:
    reference, _ = generate_case(7, 9000, 10)
    whole = build_profile(reference, max_bins=max_bins, sample_size=200)
    bounds = [0, 1, 1500, 1501, 4000, 8000, 9000]
    parts = [
        build_profile(reference.iloc[a:b], max_bins=max_bins, sample_size=200)
        for a, b in itertools.pairwise(bounds)
    ]
    for merged in (
        merge(*parts),
        merge(*reversed(parts)),
        merge(merge(parts[0], parts[3]), merge(*parts[1:3], *parts[4:])),
    ):
        assert _sketch_state(merged) == _sketch_state(whole)
        assert merged.rows == whole.rows
        assert merged.sample is not None and whole.sample is not None
        pd.testing.assert_frame_equal(merged.sample, whole.sample)
    if max_bins == 64:  # some columns are binned at this budget
        assert any(c.sketch is not None and not c.sketch.exact for c in whole.columns.values())


def test_merged_profile_gives_the_same_answer_as_the_whole() -> None:
    reference, current = generate_case(8, 6000, 5000)
    chunks = [build_profile(reference.iloc[i : i + 700]) for i in range(0, 6000, 700)]
    assert detect_drift(merge(*chunks), current).to_dict() == detect_drift(reference, current).to_dict()


def test_streamed_csv_in_chunks_equals_the_whole_file(tmp_path: Path) -> None:
    reference, current = generate_case(9, 3000, 2000)
    reference.loc[2500:, "i_2_5"] = np.nan  # ints in early chunks, floats later
    path = tmp_path / "ref.csv.gz"
    reference.to_csv(path, index=False)
    whole = pd.read_csv(path)
    streamed = profile_path(path, chunk_rows=400)
    assert _sketch_state(streamed) == _sketch_state(build_profile(whole))
    assert detect_drift(streamed, current).to_dict() == detect_drift(whole, current).to_dict()


def test_profile_round_trips_through_dict_and_file(tmp_path: Path) -> None:
    reference, current = generate_case(10, 2000, 1500)
    profile = build_profile(reference, sample_size=100)
    again = DatasetProfile.from_dict(profile.to_dict())
    path = tmp_path / "p.npz"
    profile.save(path)
    loaded = DatasetProfile.load(path)
    for other in (again, loaded):
        assert _sketch_state(other) == _sketch_state(profile)
        assert detect_drift(other, current).to_dict() == detect_drift(profile, current).to_dict()
        assert other.sample is not None and len(other.sample) == 100


def test_loading_something_else_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InvalidInput, match=r"p\.npz"):
        DatasetProfile.load(path)


@pytest.mark.parametrize("kind", ["normal", "offset", "heavy", "lognormal", "mixture"])
def test_binned_scores_stay_close_to_exact_ones(kind: str) -> None:
    """Beyond the bin budget, Wasserstein and K-S come from the bins: close, and the same verdict."""
    rng = np.random.default_rng(len(kind))
    n = 60_000
    draw = {
        "normal": lambda s: rng.normal(s, 1, n),
        "offset": lambda s: rng.normal(1000 + s, 2, n),
        "heavy": lambda s: rng.standard_t(1.5, n) * (1 + s),
        "lognormal": lambda s: rng.lognormal(s, 1.5, n),
        "mixture": lambda s: np.where(rng.random(n) < 0.3 + s, rng.normal(-2, 0.5, n), rng.exponential(2, n)),
    }[kind]
    for shift in (0.0, 0.03, 0.2):
        a, b = draw(0.0), draw(shift)
        sa, sb = NumericSketch.from_values(a, 4096), NumericSketch.from_values(b, 4096)
        assert not sa.exact
        norm = max(float(np.std(a)), 0.001)
        exact_w = stats.wasserstein_distance(a, b) / norm
        binned_w = st.wasserstein(sa, sb) / norm
        assert abs(binned_w - exact_w) <= 2e-3 * max(exact_w, 0.01)
        assert abs(binned_w - exact_w) * norm <= st.binning_error(sa) + st.binning_error(sb)
        d_error = abs(st.ks_statistic(sa, sb) - stats.ks_2samp(a, b).statistic)
        assert d_error <= min(1e-3, st.largest_bin_share(sa) + st.largest_bin_share(sb))


def test_binned_columns_report_an_error_bound_that_holds() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.lognormal(size=40_000), "y": rng.normal(size=40_000)})
    current = pd.DataFrame({"x": rng.lognormal(0.05, size=30_000), "y": rng.normal(0.08, size=30_000)})
    exact = detect_drift(
        build_profile(reference, max_bins=1 << 17),
        build_profile(current, max_bins=1 << 17),
        methods={"y": "ks"},
        preset="evidently",
    )
    binned = detect_drift(
        build_profile(reference, max_bins=1024),
        build_profile(current, max_bins=1024),
        methods={"y": "ks"},
        preset="evidently",
    )
    for e, b in zip(exact.columns, binned.columns, strict=True):
        assert not e.approximate and e.score_error == 0.0
        assert b.approximate and 0 < b.score_error < 0.05
        assert abs(b.score - e.score) <= b.score_error
        assert b.drift_detected == e.drift_detected


def test_exact_sketch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = np.round(rng.normal(size=3000), 2), np.round(rng.normal(0.1, size=2000), 2)
    sa, sb = NumericSketch.from_values(a), NumericSketch.from_values(b)
    assert sa.exact and sb.exact
    assert st.wasserstein(sa, sb) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    assert st.ks_p_value(sa, sb) == pytest.approx(stats.ks_2samp(a, b).pvalue, rel=1e-9)
    assert NumericSketch.from_values(np.array([-0.0, 0.0, 1.0])).n_bins == 2

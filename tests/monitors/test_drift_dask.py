"""The dask engine on a real two-process ``LocalCluster`` equals the local engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitors.drift import build_profile, detect_drift
from tests.monitors.drift_cases import generate_case

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, memory_limit="2GiB"
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.mark.slow
def test_dask_engine_equals_local_engine(cluster: distributed.LocalCluster, tmp_path: Path) -> None:  # type: ignore[name-defined]
    reference, current = generate_case(3, 3000, 5000)
    local = detect_drift(reference, current)

    on_frame = detect_drift(reference, current, engine="dask", scheduler=cluster.scheduler_address)
    assert on_frame.to_dict() == local.to_dict()

    path = tmp_path / "current.parquet"
    current.to_parquet(path, row_group_size=700)
    on_file = detect_drift(
        build_profile(reference), str(path), engine="dask", scheduler=cluster.scheduler_address
    )
    assert on_file.to_dict() == local.to_dict()


@pytest.mark.slow
def test_dask_engine_on_many_valued_columns(cluster: distributed.LocalCluster) -> None:  # type: ignore[name-defined]
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(size=60_000), "y": rng.lognormal(size=60_000)})
    current = pd.DataFrame({"x": rng.normal(0.05, size=50_000), "y": rng.lognormal(0.1, size=50_000)})
    profile = build_profile(reference, max_bins=512)
    local = detect_drift(profile, build_profile(current, max_bins=512))
    from monitors.drift.dask_engine import profile_with_dask

    remote = profile_with_dask(current, scheduler=cluster.scheduler_address, partitions=7, max_bins=512)
    far, near = detect_drift(profile, remote).to_dict(), local.to_dict()
    # the mean behind the calibrated effect size merges moments in partition order: equal to rounding
    for a, b in zip(far["columns"], near["columns"], strict=True):
        assert a.pop("effect") == pytest.approx(b.pop("effect"), rel=1e-9)
    assert far == near


@pytest.mark.slow
def test_cli_dask_engine_equals_local_engine(cluster: distributed.LocalCluster, tmp_path: Path) -> None:  # type: ignore[name-defined]
    import json

    from click.testing import CliRunner

    from governance.cli import main

    reference, current = generate_case(5, 2000, 3000)
    ref_path, cur_path = tmp_path / "ref.parquet", tmp_path / "cur.csv"
    reference.to_parquet(ref_path)
    current.to_csv(cur_path, index=False)
    runner = CliRunner()
    local = runner.invoke(main, ["drift", str(ref_path), str(cur_path), "--json"])
    remote = runner.invoke(
        main,
        [
            "drift",
            str(ref_path),
            str(cur_path),
            "--json",
            "--engine",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
        ],
    )
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)


def test_unreachable_scheduler_is_unavailable_naming_it() -> None:
    from governance.errors import Unavailable
    from monitors.drift.dask_engine import profile_with_dask

    with pytest.raises(Unavailable, match=r"127\.0\.0\.1:1"):
        profile_with_dask(pd.DataFrame({"a": [1.0]}), scheduler="tcp://127.0.0.1:1", connect_timeout=1)

"""Record ingest through the API: records/s of 20 features, and nothing lost across a restart.

Serves a fresh SQLite database with ``govern serve`` (uvicorn, loopback) and logs ``--records``
inference records of 20 features with ``governance.client.Client`` (JSON lines, groups of
``--batch`` records); halfway it kills the server (SIGKILL) and starts it again while the client
keeps logging. Prints records/s (the whole run, the restart included, and the run without it),
the client's retries, and the records stored, counted by distinct request_id in the Parquet
batches, beside the targets (>= 50,000 records/s; 0 lost).

    python benchmarks/ingest.py [--records 500000] [--batch 10000] [--no-restart]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


ROOT = Path(__file__).resolve().parents[1]
TARGET = 50_000


def records(features: list[str], start: int, n: int, now: datetime) -> list[dict[str, object]]:
    base = {f: 0.0 for f in features}
    out = []
    for i in range(start, start + n):
        row: dict[str, object] = dict(base)
        for j, f in enumerate(features):
            row[f] = ((i * 7 + j * 13) % 1000) / 10.0
        row["request_id"] = f"req-{i}"
        row["timestamp"] = (now + timedelta(microseconds=i)).isoformat()
        row["prediction"] = i % 2
        out.append(row)
    return out


def run(
    client_cls: type, url: str, key: str, features: list[str], total: int, batch: int, restart: object
) -> dict[str, float]:
    now = datetime.now(UTC) + timedelta(minutes=1)
    chunk = 1000
    prepared = [records(features, i, min(chunk, total - i), now) for i in range(0, total, chunk)]
    client = client_cls(url, key, batch_size=batch, flush_interval=0.5, retry_for=300)
    started = time.perf_counter()
    for n, group in enumerate(prepared):
        client.log("bench", group)
        if restart is not None and n == len(prepared) // 2:
            restart()  # type: ignore[operator]
    client.close()
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "rate": total / elapsed,
        "retries": client.stats.retries,
        "failed": client.stats.failed,
        "acked": client.stats.sent + client.stats.duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--no-restart", action="store_true")
    args = parser.parse_args()

    import pyarrow.parquet as pq
    from sqlalchemy import select

    from benchmarks import fleet
    from governance.client import Client
    from governance.db import Database
    from governance.migrate import upgrade
    from governance.production.models import InferenceBatch

    folder = Path(tempfile.mkdtemp(prefix="govern-bench-ingest-"))
    url = f"sqlite:///{folder / 'govern.db'}"
    db = Database(url)
    upgrade(db.engine)
    features, key = fleet.served_model(db, folder / "files", name="bench", features=20)
    port = fleet.free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GOVERN_DATABASE_URL": url,
        "GOVERN_STORAGE_ROOT": str(folder / "storage"),
    }
    server = fleet.serve(env, port)
    state = {"server": server}

    def restart() -> None:
        os.killpg(state["server"].pid, signal.SIGKILL)
        state["server"].wait()
        time.sleep(0.5)
        state["server"] = fleet.serve(env, port)

    try:
        result = run(
            Client,
            f"http://127.0.0.1:{port}",
            key,
            features,
            args.records,
            args.batch,
            None if args.no_restart else restart,
        )
    finally:
        os.killpg(state["server"].pid, signal.SIGTERM)
        state["server"].wait()
    with db.transaction() as session:
        locations = [b.location for b in session.scalars(select(InferenceBatch))]
    ids: set[str] = set()
    stored = 0
    for location in locations:
        column = pq.read_table(location, columns=["request_id"]).column("request_id").to_pylist()
        stored += len(column)
        ids.update(column)
    db.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    lost = args.records - len(ids)
    verdict = "meets" if result["rate"] >= TARGET else "MISSES"
    print(
        f"records: {args.records:,} of 20 features in groups of {args.batch:,}; "
        f"{'server killed and restarted halfway' if not args.no_restart else 'no restart'}"
    )
    print(
        f"ingest: {result['rate']:,.0f} records/s ({result['elapsed']:.1f} s)  target >= {TARGET:,}/s  {verdict}"
    )
    print(f"client: {result['retries']} retries, {result['failed']:.0f} given up")
    print(
        f"stored: {len(ids):,} distinct request ids in {len(locations)} batches ({stored - len(ids)} stored twice); "
        f"lost: {lost}  target 0  {'meets' if lost == 0 else 'MISSES'}"
    )


if __name__ == "__main__":
    main()

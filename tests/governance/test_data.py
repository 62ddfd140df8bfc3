"""The one reader of data files: every format, on the local disk and in an object store, the
registry's format over the file's name, and one sentence for each way a file can be wrong."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from governance import data
from governance.errors import InvalidInput

FRAME = pd.DataFrame({"x": [1, 2, 3, 4, 5], "y": [0.5, 1.5, 2.5, 3.5, 4.5], "name": list("abcde")})


@dataclass(frozen=True)
class Version:
    """What the reader needs of a registered dataset version."""

    location: str
    format: str


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame, row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False, row_group_size=row_group_size)
    return sink.getvalue()


def _zipped(name: str, content: bytes) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr(name, content)
    return sink.getvalue()


def _npz(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    np.savez(sink, **{c: frame[c].to_numpy() for c in ("x", "y")})
    return sink.getvalue()


WRITERS: dict[str, Callable[[pd.DataFrame], bytes]] = {
    "rows.csv": _csv,
    "rows.csv.gz": lambda f: gzip.compress(_csv(f)),
    "rows.csv.bz2": lambda f: bz2.compress(_csv(f)),
    "rows.csv.xz": lambda f: lzma.compress(_csv(f)),
    "rows.csv.zip": lambda f: _zipped("rows.csv", _csv(f)),
    "rows.tsv": lambda f: f.to_csv(index=False, sep="\t").encode(),
    "rows.txt": _csv,
    "rows.parquet": _parquet,
    "rows.pq": _parquet,
}


@pytest.fixture(params=["local", "memory"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str, bytes], str]]:
    """Writes bytes under a name and returns its location: a local path, or a ``memory://`` URL."""
    if request.param == "local":

        def local(name: str, content: bytes) -> str:
            (tmp_path / name).write_bytes(content)
            return str(tmp_path / name)

        yield local
        return
    root = f"memory://data-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")

    def remote(name: str, content: bytes) -> str:
        fs.pipe_file(f"{root}/{name}", content)
        return f"{root}/{name}"

    yield remote
    fs.rm(root, recursive=True)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_format_reads_the_same_rows_from_every_storage(
    place: Callable[[str, bytes], str], name: str
) -> None:
    location = place(name, WRITERS[name](FRAME))
    pd.testing.assert_frame_equal(data.read_frame(location), FRAME)
    pd.testing.assert_frame_equal(data.read_frame(location, ["name", "x"], 2), FRAME[["name", "x"]].head(2))
    table = data.read_table(location, ["x"])
    assert table.column_names == ["x"] and table.column("x").to_pylist() == [1, 2, 3, 4, 5]


def test_npz_columns_read_as_a_frame_and_arrays(place: Callable[[str, bytes], str]) -> None:
    location = place("rows.npz", _npz(FRAME))
    pd.testing.assert_frame_equal(data.read_frame(location), FRAME[["x", "y"]])
    assert sorted(data.read_arrays(location)) == ["x", "y"]


def test_chunks_follow_row_groups_and_chunk_rows(place: Callable[[str, bytes], str]) -> None:
    big = pd.DataFrame({"a": np.arange(1000), "b": np.arange(1000) * 0.5})
    groups = data.iter_chunks(place("big.pq", _parquet(big, row_group_size=300)), ["b"])
    assert [len(c) for c in groups] == [300, 300, 300, 100]
    chunks = list(data.iter_chunks(place("big.csv.gz", gzip.compress(_csv(big))), chunk_rows=400))
    assert [len(c) for c in chunks] == [400, 400, 200]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), big)
    assert [len(c) for c in data.iter_chunks(place("b2.pq", _parquet(big, 300)), max_rows=450)] == [300, 150]
    header_only = list(data.iter_chunks(place("head.csv", b"a,b\n")))
    assert len(header_only) == 1 and list(header_only[0].columns) == ["a", "b"] and header_only[0].empty


def test_the_registry_format_wins_over_the_name(place: Callable[[str, bytes], str]) -> None:
    """A Parquet file stored under a CSV-like name (or none) is read as the registry recorded it."""
    location = place("stored.csv", _parquet(FRAME))
    pd.testing.assert_frame_equal(data.read_frame(Version(location, "parquet")), FRAME)
    with pytest.raises(InvalidInput, match="is not a readable CSV"):
        data.read_frame(location)  # by its name alone it is a CSV, and not a readable one
    nameless = place("blob", gzip.compress(_csv(FRAME)))
    pd.testing.assert_frame_equal(data.read_frame(Version(nameless, "csv")), FRAME)
    with pytest.raises(InvalidInput, match="has an unsupported format 'xlsx'"):
        data.read_frame(Version(nameless, "xlsx"))


def test_parquet_rows_are_filtered_in_the_reader(place: Callable[[str, bytes], str]) -> None:
    location = place("rows.pq", _parquet(FRAME))
    kept = data.read_table(location, ["name"], filters=pc.field("x") > 3, format="parquet")
    assert kept.column("name").to_pylist() == ["d", "e"]


BAD: dict[str, tuple[str | None, bytes | None, list[str] | None, str]] = {
    # case: (name, content or None for missing, columns asked for, the sentence)
    "missing": ("gone.csv", None, None, "file {loc} does not exist"),
    "unsupported": ("rows.xlsx", b"PK", None, "file {loc} has an unsupported format (expected CSV"),
    "corrupt parquet": (
        "rows.parquet",
        b"PAR1 not really",
        None,
        "file {loc} is not a readable Parquet file: ",
    ),
    "truncated gzip": (
        "rows.csv.gz",
        gzip.compress(_csv(FRAME))[:30],
        None,
        "file {loc} is not a readable CSV: ",
    ),
    "binary as csv": ("rows.csv", _parquet(FRAME), None, "file {loc} is not a readable CSV: "),
    "empty csv": ("rows.csv", b"", None, "file {loc} is empty: it has no header row"),
    "missing columns": ("rows.csv", _csv(FRAME), ["x", "zz", "q"], "file {loc} lacks column(s) 'zz', 'q'"),
    "missing parquet columns": ("rows.pq", _parquet(FRAME), ["zz"], "file {loc} lacks column(s) 'zz'"),
    "ragged npz": ("rows.npz", None, None, "is an NPZ archive whose arrays are not columns of one length"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_problem_is_one_sentence(place: Callable[[str, bytes], str], tmp_path: Path, case: str) -> None:
    name, content, columns, sentence = BAD[case]
    assert name is not None
    if case == "ragged npz":
        sink = io.BytesIO()
        np.savez(sink, a=np.arange(3), b=np.arange(4))
        content = sink.getvalue()
    location = place(name, content) if content is not None else place(name, b"").replace(name, "nope-" + name)
    expected = sentence.format(loc=location)
    for read in (data.read_frame, data.read_table):
        with pytest.raises(InvalidInput) as caught:
            read(location, columns)
        message = str(caught.value)
        assert message.startswith(expected) or expected in message, message
        assert "\n" not in message and "Traceback" not in message


def test_a_directory_and_an_unreadable_file_are_named(tmp_path: Path) -> None:
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InvalidInput, match=r"folder\.csv is not a regular file"):
        data.read_frame(tmp_path / "folder.csv")
    with pytest.raises(InvalidInput, match=r"^reference dataset .*gone.pq does not exist$"):
        data.read_frame(tmp_path / "gone.pq", what="reference dataset")

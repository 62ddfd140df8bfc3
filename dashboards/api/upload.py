"""Files sent as the raw request body (``Content-Type: application/octet-stream``), spooled to disk."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Query, Request

from governance.errors import InvalidInput
from governance.validation import check_text, shown

SUFFIXES = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet", "npz": ".npz"}
MAX_BYTES = 2 << 30
MAX_NAME = 255  # bytes of a file name on common file systems


async def uploaded_file(
    request: Request,
    filename: Annotated[
        str,
        Query(min_length=1, max_length=MAX_NAME, description="The file's name; its suffix tells the format."),
    ],
) -> AsyncIterator[Path]:
    """The body spooled into a private temporary folder, removed however the request ends."""
    name = Path(check_text(filename, "filename", MAX_NAME)).name
    if not name or name.startswith(".") or len(name.encode("utf-8", "replace")) > MAX_NAME:
        raise InvalidInput(f"filename '{shown(filename)}' is not valid")
    folder = Path(tempfile.mkdtemp(prefix="govern-upload-"))
    try:
        path = folder / name
        size = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise InvalidInput(f"{name} is larger than {MAX_BYTES >> 30} GiB")
                out.write(chunk)
        if size == 0:
            raise InvalidInput(f"{name} is empty: send the file as the request body")
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


UploadDep = Annotated[Path, Depends(uploaded_file)]

"""Files sent as the raw request body (``Content-Type: application/octet-stream``), spooled to disk."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Query, Request

from governance.errors import InvalidInput

SUFFIXES = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet", "npz": ".npz"}
MAX_BYTES = 2 << 30


async def uploaded_file(
    request: Request,
    filename: Annotated[str, Query(description="The file's name; its suffix tells the format.")],
) -> AsyncIterator[Path]:
    name = Path(filename).name
    if not name or name.startswith("."):
        raise InvalidInput(f"filename '{filename}' is not valid")
    folder = Path(tempfile.mkdtemp(prefix="govern-upload-"))
    path = folder / name
    size = 0
    try:
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
        path.unlink(missing_ok=True)
        os.rmdir(folder)


UploadDep = Annotated[Path, Depends(uploaded_file)]

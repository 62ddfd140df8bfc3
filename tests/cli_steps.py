"""The registration steps CLI tests start from, written once.

``run`` is any ``govern``-like callable (the ``govern`` fixture, or a test's own runner); extra
keyword arguments (``expect=``, ``env_extra=``, ``key=``...) pass through to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def register_dataset(run: Any, path: Path | str, ref: str, license: str, *extra: str, **kw: Any) -> Any:
    """``govern dataset register PATH --name N --version V --license L EXTRA...``"""
    name, version = ref.split("@")
    return run(
        "dataset",
        "register",
        str(path),
        "--name",
        name,
        "--version",
        version,
        "--license",
        license,
        *extra,
        **kw,
    )


def register_model(run: Any, path: Path | str, ref: str, *extra: str, **kw: Any) -> Any:
    """``govern model register PATH --name N --version V EXTRA...``"""
    name, version = ref.split("@")
    return run("model", "register", str(path), "--name", name, "--version", version, *extra, **kw)

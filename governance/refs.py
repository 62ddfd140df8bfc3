"""``NAME@VERSION`` references to registered datasets and model versions."""

from __future__ import annotations

import re

from governance.errors import InvalidInput
from governance.validation import shown

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-+]{0,63}$")


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{what} '{shown(name)}' is not valid (letters, digits, '.', '_', '-'; up to 128 characters)"
        )
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise InvalidInput(
            f"version '{shown(version)}' is not valid (letters, digits, '.', '_', '-', '+'; up to 64)"
        )
    return version


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``NAME@VERSION``; anything else raises InvalidInput."""
    name, sep, version = (ref or "").strip().rpartition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"'{ref}' is not a NAME@VERSION reference")
    return check_name(name), check_version(version)

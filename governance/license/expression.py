"""License expressions (``MIT OR Apache-2.0``, ``AND``, ``WITH``), parsed by license-expression.

Expressions are checked against the registry's catalog: every license key must be in it, every
exception must be an SPDX exception. :func:`alternatives` expands an expression into the ways it
can be satisfied (disjunctive normal form), which is what compliance evaluates.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

from governance.errors import InvalidInput

MAX_ALTERNATIVES = 256


@dataclass(frozen=True)
class Term:
    """One license of an alternative, with the exception it carries (``WITH``), if any."""

    license: str
    exception: str | None = None

    def __str__(self) -> str:
        return f"{self.license} WITH {self.exception}" if self.exception else self.license


@lru_cache(maxsize=1)
def _spdx() -> Licensing:
    return get_spdx_licensing()


@lru_cache(maxsize=32)
def _licensing(catalog_keys: frozenset[str]) -> Licensing:
    spdx = _spdx()
    by_lower = {key.lower(): symbol for key, symbol in spdx.known_symbols.items()}
    symbols: list[LicenseSymbol] = [s for s in spdx.known_symbols.values() if s.is_exception]
    for key in catalog_keys:
        known = by_lower.get(key.lower())
        if known is not None and known.key == key:
            symbols.append(known)
        else:
            symbols.append(LicenseSymbol(key))
    return Licensing(symbols)


def parse(expression: str, catalog_keys: Iterable[str]) -> LicenseExpression:
    """Parse ``expression``; unknown licenses and malformed expressions raise InvalidInput."""
    text = (expression or "").strip()
    if not text:
        raise InvalidInput("the license expression is empty")
    licensing = _licensing(frozenset(catalog_keys))
    try:
        info = licensing.validate(text)
    except Exception as exc:  # license-expression raises odd errors on some truncated input
        raise InvalidInput(f"malformed license expression '{text}'") from exc
    if info.invalid_symbols:
        catalog_lower = {key.lower() for key in catalog_keys_set(licensing)}
        misplaced = [str(s) for s in info.invalid_symbols if str(s).lower() in catalog_lower]
        if any(
            not str(s).strip() or "(" in str(s) or ")" in str(s) or str(s).upper() in {"OR", "AND", "WITH"}
            for s in info.invalid_symbols
        ):
            raise InvalidInput(f"malformed license expression '{text}'")
        if misplaced:
            raise InvalidInput(f"malformed license expression '{text}': '{misplaced[0]}' is misplaced")
        names = ", ".join(sorted(str(s) for s in info.invalid_symbols))
        raise InvalidInput(
            f"unknown license {names} in expression '{text}' (see `govern license list`, or add it with `govern license add`)"
        )
    if info.errors:
        raise InvalidInput(f"malformed license expression '{text}': {info.errors[0]}")
    try:
        parsed = licensing.parse(text, validate=True, strict=True)
    except ExpressionError as exc:
        raise InvalidInput(f"malformed license expression '{text}': {exc}") from exc
    if parsed is None:
        raise InvalidInput(f"malformed license expression '{text}'")
    for symbol in licensing.license_symbols(parsed, decompose=False):
        if isinstance(symbol, LicenseWithExceptionSymbol):
            if not symbol.exception_symbol.is_exception:
                raise InvalidInput(
                    f"'{symbol.exception_symbol.key}' in expression '{text}' is not a license exception"
                )
            if symbol.license_symbol.is_exception:
                raise InvalidInput(
                    f"'{symbol.license_symbol.key}' in expression '{text}' is an exception, not a license"
                )
        elif symbol.is_exception:
            raise InvalidInput(
                f"exception '{symbol.key}' in expression '{text}' must follow a license with WITH"
            )
    return parsed


def catalog_keys_set(licensing: Licensing) -> set[str]:
    return {key for key, symbol in licensing.known_symbols.items() if not symbol.is_exception}


def normalize(expression: str, catalog_keys: Iterable[str]) -> str:
    """The canonical text of a valid expression (catalog casing, normal spacing)."""
    return str(parse(expression, catalog_keys).render("{symbol.key}"))


def alternatives(expression: LicenseExpression) -> list[tuple[Term, ...]]:
    """The ways an expression can be satisfied: ``A OR (B AND C)`` gives ``[(A,), (B, C)]``."""
    if isinstance(expression, LicenseWithExceptionSymbol):
        return [(Term(expression.license_symbol.key, expression.exception_symbol.key),)]
    if isinstance(expression, LicenseSymbol):
        return [(Term(expression.key),)]
    if isinstance(expression, OR):
        result = [alt for arg in expression.args for alt in alternatives(arg)]
    elif isinstance(expression, AND):
        parts = [alternatives(arg) for arg in expression.args]
        result = [tuple(t for alt in combo for t in alt) for combo in itertools.product(*parts)]
    else:  # pragma: no cover - license-expression has no other node types
        raise InvalidInput(f"unsupported license expression node {expression!r}")
    if len(result) > MAX_ALTERNATIVES:
        raise InvalidInput(f"license expression '{expression}' has more than {MAX_ALTERNATIVES} alternatives")
    unique: dict[tuple[Term, ...], None] = {}
    for alt in result:
        unique.setdefault(tuple(dict.fromkeys(alt)), None)
    return list(unique)


def spdx_normalize(expression: str) -> str | None:
    """Canonical SPDX text of an expression from package metadata, or None if it is not SPDX."""
    try:
        info = _spdx().validate(expression)
    except Exception:
        return None
    if info.errors or info.invalid_symbols or not info.normalized_expression:
        return None
    return str(info.normalized_expression)

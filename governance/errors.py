"""Domain errors: one hierarchy that the CLI maps to exit codes and the API to HTTP statuses.

Every message is one sentence naming the thing that is wrong.
"""

from __future__ import annotations


class GovernError(Exception):
    """Base of every error the platform raises on purpose."""

    exit_code = 2
    http_status = 400


class InvalidInput(GovernError):
    """The caller gave something malformed: a file, an expression, an option."""

    http_status = 422


class NotFound(GovernError):
    """A named thing (license, dataset, model version...) does not exist."""

    http_status = 404


class Conflict(GovernError):
    """The request contradicts what is recorded (a taken version, a lineage cycle...)."""

    http_status = 409


class ComplianceViolation(GovernError):
    """An action is refused because the compliance check finds violations."""

    http_status = 409


class PermissionDenied(GovernError):
    """The caller may not do this."""

    http_status = 403


class Unavailable(GovernError):
    """A service the platform needs (the database, storage) cannot be reached."""

    http_status = 503

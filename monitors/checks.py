"""The checks the runner can run, one adapter per monitor kind, over :class:`WindowData`.

Each adapter calls a pure check from ``monitors/`` and turns its result into a CheckOutcome.
"""

from __future__ import annotations

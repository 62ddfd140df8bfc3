"""``govern``: the command line. Each module adds its commands to :data:`main`."""

from governance.cli import drift as _drift  # noqa: F401  (registers commands)
from governance.cli import registry as _registry  # noqa: F401  (registers commands)
from governance.cli.app import main

__all__ = ["main"]

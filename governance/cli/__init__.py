"""``govern``: the command line. Each module adds its commands to :data:`main`."""

from governance.cli import access as _access  # noqa: F401  (each import registers its commands)
from governance.cli import closed_loop as _closed_loop  # noqa: F401
from governance.cli import demo as _demo  # noqa: F401
from governance.cli import drift as _drift  # noqa: F401
from governance.cli import estimate as _estimate  # noqa: F401
from governance.cli import file_checks as _file_checks  # noqa: F401
from governance.cli import insight as _insight  # noqa: F401
from governance.cli import policy as _policy  # noqa: F401
from governance.cli import predict as _predict  # noqa: F401
from governance.cli import production as _production  # noqa: F401
from governance.cli import registry as _registry  # noqa: F401
from governance.cli import review as _review  # noqa: F401
from governance.cli import storage as _storage  # noqa: F401
from governance.cli.app import main

__all__ = ["main"]

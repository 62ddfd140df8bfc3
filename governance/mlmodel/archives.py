"""What kind of model archive a file is, from its zip entries alone (nothing is loaded or run).

The registry uses it to know a PyTorch artifact whatever its suffix; ``monitors.modelio`` uses it
to choose the safe loader (and refuses pickles).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

PLATFORM_CONFIG_ENTRY = "governance_model.json"  # the platform archive's architecture description
PLATFORM_WEIGHTS_ENTRY = "weights.pt"  # its state dict, loaded with weights_only=True
SAFE_PYTORCH_FORMATS = ("platform", "torchscript", "export")


def detect_format(path: str | Path) -> str:
    """``platform``, ``torchscript``, ``export`` or ``pickle`` (refused), from the archive's entries."""
    if not zipfile.is_zipfile(path):
        return "pickle"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if PLATFORM_CONFIG_ENTRY in names:
        return "platform"
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names) or any(
        "/models/" in n and n.endswith(".json") for n in names
    ):
        return "export"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "pickle"

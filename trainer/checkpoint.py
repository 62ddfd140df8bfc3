"""Checkpoints that survive a killed worker: written atomically, read without unpickling code.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts,
so it loads with ``weights_only=True``. It is written to a temporary file in the same folder,
flushed to disk and moved over the previous one with :func:`os.replace`: a process killed at any
moment leaves either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


def rng_state() -> dict[str, Any]:
    """The state of every random number generator training uses, as plain values and tensors."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(directory: Path) -> Path:
    return directory / CHECKPOINT_NAME


def save_checkpoint(state: dict[str, Any], directory: Path) -> Path:
    """Write ``state`` atomically as the checkpoint in ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def remove_partial_checkpoints(directory: Path) -> None:
    """Remove the temporary files of checkpoints a killed process was writing.

    Only the process about to write checkpoints in ``directory`` may call this: it would also
    remove the temporary file of a checkpoint being written now.
    """
    for stale in directory.glob(f".{CHECKPOINT_NAME}.*.tmp"):
        logger.info("removing the partial checkpoint %s left by a killed run", stale)
        stale.unlink(missing_ok=True)


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The checkpoint in ``directory`` (tensors on the CPU), or ``None`` when there is none."""
    path = checkpoint_path(directory)
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state

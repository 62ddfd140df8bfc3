"""Several processes (GPUs) through ``torchrun``: process-group set-up and tear-down.

``torchrun --nproc_per_node N -m trainer.train ...`` starts N processes with ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` in their environment; :func:`distributed` joins them into one
process group (NCCL on CUDA, gloo on the CPU) and :func:`trainer.loop.train` then wraps the model
in ``DistributedDataParallel``. A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) runs
without a process group.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the group."""

    rank: int
    local_rank: int
    world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun(environ: Mapping[str, str] = os.environ) -> bool:
    return int(environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def distributed(
    device: str = "auto", environ: Mapping[str, str] = os.environ
) -> Iterator[DistributedContext]:
    """Join the process group torchrun describes in ``environ`` for the duration of the block.

    Yields a single-process context (rank 0 of 1, no group) when not launched by torchrun.
    """
    if not launched_by_torchrun(environ):
        yield DistributedContext(rank=0, local_rank=0, world_size=1, backend="none")
        return
    local_rank = int(environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    context = DistributedContext(
        rank=dist.get_rank(), local_rank=local_rank, world_size=dist.get_world_size(), backend=backend
    )
    logger.info("joined process group: rank %d of %d (%s)", context.rank, context.world_size, backend)
    try:
        yield context
    finally:
        # A DistributedDataParallel wrapper still alive here (it sits in reference cycles) is
        # otherwise freed at interpreter exit, after the group is gone, and its reducer aborts
        # the process ("terminate called without an active exception", one run in four on
        # these machines): free it while the group lives.
        gc.collect()
        dist.destroy_process_group()


def weights_digest(module: nn.Module) -> str:
    """A sha256 over ``module``'s state_dict (names, dtypes, shapes and bytes), for comparing copies."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def gather_strings(value: str) -> list[str]:
    """``value`` from every process, in rank order (just ``[value]`` without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    values: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return [str(v) for v in values]

"""Where training runs: one process, or one of torchrun's data-parallel ranks (DDP).

torchrun is the launcher (`torchrun --nproc_per_node=N --no-python tuss-fx train ...`); this
module only reads the environment it sets, joins the process group (NCCL on GPUs, Gloo on CPUs)
and says which device and rank this process has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Placement:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """The rank that reports progress and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def place(device: str = "auto") -> Placement:
    """This process's device and rank; joins the process group when torchrun started several.

    `device` "auto" picks CUDA when available; under torchrun each rank takes GPU LOCAL_RANK.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if world_size == 1:
        return Placement(torch.device(("cuda" if use_cuda else "cpu") if device == "auto" else device))
    local_rank = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Placement(torch.device("cuda", local_rank) if use_cuda else torch.device("cpu"),
                     dist.get_rank(), dist.get_world_size())


def gather(value: object, placement: Placement) -> list[object]:
    """[value of rank 0, value of rank 1, ...]; just [value] in a single process."""
    if not placement.distributed:
        return [value]
    values: list[object] = [None] * placement.world_size
    dist.all_gather_object(values, value)
    return values


def leave(placement: Placement) -> None:
    if placement.distributed and dist.is_initialized():
        dist.destroy_process_group()

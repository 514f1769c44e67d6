"""Forward passes over many mono segments: batched to fit the device, in mixed precision on CUDA,
and halving the batch instead of failing when CUDA runs out of memory."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

PRECISIONS = ("auto", "fp32", "bf16")
# CPU: channels of a segment per pass, as before batching existed (more only raises peak memory)
CPU_ITEMS_PER_PASS = 4
# CUDA: at most this many mono segments per pass, and at most this share of the free memory
MAX_ITEMS_PER_PASS = 64
FREE_MEMORY_SHARE = 0.6


class BatchShrunkWarning(UserWarning):
    """CUDA ran out of memory; the batch was halved and the work went on."""


class EmulatedBf16Warning(UserWarning):
    """bf16 asked for on a CPU without bf16 arithmetic: it is emulated, many times slower than fp32."""


def cpu_does_bf16() -> bool:
    """Whether this CPU has bf16 dot products (AVX512-BF16 or AMX), where bf16 autocast measured 1.2-1.5x
    faster than fp32. Without them oneDNN converts every operand (its own 'bf16 supported' says yes on any
    AVX-512 core, so it is not the test): on an AVX2 CPU a forward ran 7-24x slower (benchmarks/bench_cpu.py)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16 on CUDA for "auto", none (fp32) elsewhere; "fp32" and "bf16" as named
    (bf16 on a CPU without bf16 arithmetic warns EmulatedBf16Warning, and is still given)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and device.type == "cpu" and not cpu_does_bf16():
        warnings.warn(f"--precision bf16: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no bf16 "
                      "arithmetic, so bf16 is emulated (7-24x slower than fp32 on an AVX2 CPU); --precision fp32 "
                      "(or auto) is the fast choice here",
                      EmulatedBf16Warning, stacklevel=2)
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def items_that_fit(free_bytes: int, bytes_per_item: int, cap: int) -> int:
    """Mono segments per pass: FREE_MEMORY_SHARE of the free memory over one item's peak, in [1, cap]."""
    return max(1, min(cap, int(free_bytes * FREE_MEMORY_SHARE) // max(1, bytes_per_item)))


class ModelRunner:
    """Runs the model on (M, S) stacks of mono segments in passes of `items_per_pass`."""

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str = "auto",
                 max_items: int | None = None) -> None:
        """max_items: most segments per pass; None: CPU_ITEMS_PER_PASS on CPU, on CUDA as many as
        fit in free memory (measured on the first pass of each prompt count) up to MAX_ITEMS_PER_PASS."""
        if max_items is not None and max_items < 1:
            raise ValueError(f"batch size must be >= 1, got {max_items}")
        self.model, self.device = model, device
        self.precision = precision
        self.autocast_dtype = resolve_precision(precision, device)
        self.max_items = max_items
        self._fitted: dict[tuple[int, int], int] = {}  # (prompts, samples) -> items per pass

    def describe(self) -> str:
        """Precision and batch policy in words (tuss-fx info)."""
        dtype = "bf16 autocast" if self.autocast_dtype is not None else "fp32"
        if self.device.type != "cuda":
            return f"{dtype} ({self.precision}); {self.max_items or CPU_ITEMS_PER_PASS} mono segments per pass"
        limit = f"up to {self.max_items}" if self.max_items else f"up to {MAX_ITEMS_PER_PASS}"
        return f"{dtype} ({self.precision}); mono segments per pass fitted to free memory, {limit}"

    def items_per_pass(self, num_prompts: int, num_samples: int) -> int:
        """How many mono segments of num_samples go in one pass with num_prompts prompts."""
        if self.device.type != "cuda":
            return self.max_items or CPU_ITEMS_PER_PASS
        key = (num_prompts, num_samples)
        if key not in self._fitted:
            self._fitted[key] = self._measure(num_prompts, num_samples)
        return self._fitted[key]

    @torch.inference_mode()
    def __call__(self, items: np.ndarray, prompts: Sequence[str], outputs: Sequence[int] | None = None) -> np.ndarray:
        """(M, S) float32 at the model rate -> (M, O, S) float32: the sources of prompts[outputs] (all by default)."""
        stems, done = [], 0
        size = self.items_per_pass(len(prompts), items.shape[-1])
        while done < len(items):
            count = min(size, len(items) - done)
            try:
                stems.append(self._forward(items[done : done + count], prompts, outputs))
            except torch.OutOfMemoryError:
                if count == 1:
                    raise
                size = self._shrink(len(prompts), items.shape[-1], count)
                continue
            done += count
        return np.concatenate(stems)

    def _forward(self, items: np.ndarray, prompts: Sequence[str], outputs: Sequence[int] | None = None) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(items))
        if self.device.type == "cuda":  # pinned pages copy asynchronously, overlapping the host's work
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        else:
            batch = batch.to(self.device)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            stems = self.model(batch, list(prompts)) if outputs is None else self.model(batch, list(prompts), outputs)
            return stems.float().cpu().numpy()

    def _shrink(self, num_prompts: int, num_samples: int, count: int) -> int:
        size = (count + 1) // 2
        self._fitted[(num_prompts, num_samples)] = size
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # hand the failed pass's blocks back before the smaller one
        warnings.warn(f"CUDA out of memory with {count} segments per pass; going on with {size}",
                      BatchShrunkWarning, stacklevel=3)
        return size

    def _measure(self, num_prompts: int, num_samples: int) -> int:
        """Peak memory of one item, measured by running one (silent) segment, then what fits."""
        cap = self.max_items or MAX_ITEMS_PER_PASS
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        prompts = [self.model.config.prompts[0]] * num_prompts
        with torch.inference_mode():
            self._forward(np.zeros((1, num_samples), np.float32), prompts)
        bytes_per_item = torch.cuda.max_memory_allocated(self.device) - before
        free, _ = torch.cuda.mem_get_info(self.device)
        reusable = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return items_that_fit(free + reusable, bytes_per_item, cap)

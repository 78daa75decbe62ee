"""Which machine a report comes from: `lscpu`'s model, cores and the vector extensions that
change training speed most (Keras trains ~3x faster with AVX-512), and what its cores reach on
the operation training is made of, so that throughputs can be read as hardware utilisation."""

import os
import subprocess
import time


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown CPU").strip()
    flags = fields.get("Flags", "").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {vector}"


def matmul_flops(n: int = 2048, repeats: int = 20) -> float:
    """fp32 FLOP/s of an n x n matmul on every core (PyTorch's BLAS), the best of 3 rounds."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best


def torch_flops(step, samples: int) -> float:
    """FLOPs per sample of one training step (forward and backward), as PyTorch counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / samples


def keras_flops(model) -> float:
    """FLOPs per sample of a Keras model's training step: its convolutions and dense layers
    forward, times 3 (the backward pass computes two products for each forward one)."""
    from keras import layers

    forward = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, layers.Conv2D):
            h, w, out = layer.output.shape[1:]
            k_h, k_w, inputs, _ = layer.kernel.shape
            forward += 2 * h * w * out * k_h * k_w * inputs
        elif isinstance(layer, layers.Dense):
            forward += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return 3 * forward

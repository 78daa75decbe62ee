"""GPU readiness: each domain's own model, trained for a fixed number of steps in bf16 at a
realistic size on one GPU. Batches are synthetic and already on the device, so the figures are
the model's training step, not the data pipeline. Run by bench/gpu.sh.

`python -m bench.gpu [domain ...]`; `--smoke` runs tiny sizes anywhere (CPU included), to check
the script itself before a GPU machine's minutes are spent on it.
"""

import argparse
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

WARMUP, STEPS = 10, 50


@dataclass(frozen=True)
class Size:
    recsys: tuple[int, int, int] = (138_493, 26_744, 65_536)  # MovieLens-20M users, items; batch
    medical: tuple[int, int] = (256, 128)  # CT slice side, batch
    text: tuple[int, int, int] = (12, 128, 64)  # GPT-2 small layers, tokens, batch
    vision: tuple[int, int] = (224, 256)  # ResNet-50 side, batch


SMOKE = Size(recsys=(500, 300, 256), medical=(64, 8), text=(2, 32, 4), vision=(32, 4))


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled every 0.2 s while a domain trains."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(query, capture_output=True, text=True, check=True).stdout
                self.samples.append(float(out.split()[0]))
            except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
                return  # no GPU here (a smoke run)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> str:
        return f"{sum(self.samples) / len(self.samples):.0f}%" if self.samples else "n/a"


def torch_steps(model, batch, loss_fn, units_per_step: int) -> tuple[float, str, str]:
    """(units/s, peak GPU memory, utilisation) over STEPS timed steps through accelerate."""
    import torch

    from tasks.common.runtime import make_accelerator

    accelerator = make_accelerator()  # bf16 autocast on CUDA
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    batch = [t.to(accelerator.device) for t in batch]
    cuda = torch.cuda.is_available()

    def step():
        with accelerator.autocast():
            loss = loss_fn(model, *batch)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(WARMUP):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with Utilisation() as util:
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else "n/a"
    return STEPS * units_per_step / seconds, peak, util.mean


def recsys(size: Size):
    import torch

    from models.recsys import NeuMF, NeuMFConfig

    users, items, batch = size.recsys
    model = NeuMF(users, items, NeuMFConfig(gmf_dim=64, mlp_layers=(256, 128, 64)))
    data = [torch.randint(users, (batch,)), torch.randint(items, (batch,)),
            torch.randint(2, (batch,)).float()]  # fmt: skip
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return "samples/s", *torch_steps(model, data, lambda m, u, i, y: bce(m(u, i), y), batch)


def text(size: Size):
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    layers, tokens, batch = size.text
    config = GPT2Config(n_layer=layers, n_positions=1024, num_labels=4, pad_token_id=50256)
    model = GPT2ForSequenceClassification(config)  # GPT-2 small's shape, weights from scratch
    data = [torch.randint(50_000, (batch, tokens)), torch.randint(4, (batch,))]
    return "tokens/s", *torch_steps(model, data, lambda m, x, y: m(input_ids=x, labels=y).loss,
                                    batch * tokens)  # fmt: skip


def vision(size: Size):
    import torch

    from models.vision import ModelParams, build_model

    side, batch = size.vision
    model = build_model(ModelParams(architecture="resnet50"), num_classes=1000)
    images = torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last)
    data = [images, torch.randint(1000, (batch,))]
    ce = torch.nn.functional.cross_entropy
    return "images/s", *torch_steps(model, data, lambda m, x, y: ce(m(x), y), batch)


def medical(size: Size):
    """Keras, in its own process (TensorFlow and PyTorch each want the GPU's memory)."""
    import numpy as np
    import tensorflow as tf

    from models.medical import ScreeningConfig, build_screening_model
    from tasks.medical.train import distribution

    side, batch = size.medical
    with distribution().scope():  # mixed_bfloat16 on a GPU, as training sets it
        model = build_screening_model(ScreeningConfig(), side)
        model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, side, side, 1), dtype=np.uint8)
    y = rng.integers(0, 2, (batch, 1)).astype("float32")
    data = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2)
    model.fit(data, steps_per_epoch=WARMUP, epochs=1, verbose=0)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    with Utilisation() as util:
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=STEPS, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30 if gpu else None
    return "images/s", STEPS * batch / seconds, f"{peak:.1f} GiB" if gpu else "n/a", util.mean


DOMAINS = {"recsys": recsys, "medical": medical, "text": text, "vision": vision}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domains", nargs="*", choices=[[], *DOMAINS])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the script")
    args = parser.parse_args()
    if len(args.domains) == 1:  # one domain per process: the frameworks never share the GPU
        unit, rate, peak, util = DOMAINS[args.domains[0]](SMOKE if args.smoke else Size())
        print(f"{args.domains[0]:8} {rate:>12,.0f} {unit:10} {peak:>10} {util:>6}", flush=True)
        return
    print(f"{'domain':8} {'throughput':>12} {'unit':10} {'peak mem':>10} {'util':>6}")
    for domain in args.domains or DOMAINS:
        cmd = [sys.executable, "-m", "bench.gpu", domain, *(["--smoke"] if args.smoke else [])]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()

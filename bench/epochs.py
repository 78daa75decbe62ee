"""Throughput benchmarks train a fixed number of epochs: early stopping never ends them."""

import dataclasses


def fixed_epochs(p, epochs: int):
    """A domain's TrainParams that runs exactly `epochs` epochs (patience cannot run out)."""
    return dataclasses.replace(p, max_epochs=epochs, patience=epochs)

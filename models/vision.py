"""torchvision ResNets with a head for our classes, from no weights, an enum, or a local file.

`weights` is None, a torchvision enum name such as IMAGENET1K_V2 (downloaded where the network
reaches it), or a local checkpoint: a state_dict in a `.pt`/`.pth` file (read with
`weights_only=True`) or a `.safetensors` file. A checkpoint's own head is dropped.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.transforms import v2

from tasks.common.errors import InputError

ARCHITECTURES = ("resnet18", "resnet34", "resnet50")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as the weights expect
NORMALIZE = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


@dataclass(frozen=True)
class ModelParams:
    architecture: str = "resnet18"
    weights: str | None = None  # None, a torchvision enum name, or a local checkpoint file
    freeze_backbone: bool = False  # True: train the new head only (feature extraction)


def backbone(p: ModelParams) -> nn.Module:
    if p.architecture not in ARCHITECTURES:
        raise InputError(
            f"vision.model.architecture {p.architecture!r} is unknown; "
            f"choose from {', '.join(ARCHITECTURES)}"
        )
    if p.weights is None or Path(p.weights).suffix in (".pt", ".pth", ".safetensors"):
        model = models.get_model(p.architecture, weights=None)
        if p.weights:
            load_checkpoint(model, Path(p.weights))
        return model
    enum = models.get_model_weights(p.architecture)
    if p.weights not in enum.__members__:
        raise InputError(
            f"vision.model.weights {p.weights!r} is not a checkpoint file or a weights name for "
            f"{p.architecture} ({', '.join(enum.__members__)})"
        )
    try:
        return models.get_model(p.architecture, weights=enum[p.weights])
    except OSError as e:  # urllib's URLError is an OSError: no network here
        raise InputError(f"vision.model.weights {p.weights}: cannot download ({e})") from e


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(f"vision.model.weights {path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused, truncated file, not a checkpoint at all
        raise InputError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    return state.get("model", state) if isinstance(state, dict) else state


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """The backbone's weights from a state_dict; the head is replaced afterwards anyway."""
    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    for name, tensor in state.items():
        if name in own and own[name].shape != tensor.shape:
            raise InputError(
                f"{path}: {name} has shape {tuple(tensor.shape)}, "
                f"{model.__class__.__name__} expects {tuple(own[name].shape)}"
            )
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise InputError(
            f"{path}: not a {model.__class__.__name__} checkpoint "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.load_state_dict(state, strict=False)


def build_model(p: ModelParams, num_classes: int) -> nn.Module:
    model = backbone(p)
    if p.freeze_backbone:
        model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # trainable either way
    return model.to(memory_format=torch.channels_last)

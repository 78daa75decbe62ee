import pickle

import pytest
import torch
from safetensors.torch import save_file
from torchvision import models

from models.vision import ModelParams, build_model
from tasks.common.errors import InputError


def test_a_local_checkpoint_becomes_the_backbone_under_a_new_head(tmp_path):
    source = models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "resnet18.pt")
    model = build_model(
        ModelParams("resnet18", weights=str(tmp_path / "resnet18.pt")), num_classes=7
    )
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert model.fc.out_features == 7 and model.fc.in_features == 512  # not ImageNet's 1000
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    save_file(source.state_dict(), tmp_path / "resnet18.safetensors")
    again = build_model(ModelParams("resnet18", weights=str(tmp_path / "resnet18.safetensors")), 7)
    assert torch.equal(again.layer1[0].conv1.weight, source.layer1[0].conv1.weight)


def test_freezing_trains_only_the_head():
    model = build_model(ModelParams("resnet18", freeze_backbone=True), num_classes=3)
    trainable = {name for name, w in model.named_parameters() if w.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (ModelParams(architecture="vgg16"), "architecture 'vgg16' is unknown"),
        (
            ModelParams("resnet18", weights="IMAGENET9K"),
            "'IMAGENET9K' is not a checkpoint file or a weights",
        ),
        (
            ModelParams("resnet18", weights="/nowhere/r18.pt"),
            "/nowhere/r18.pt: no such checkpoint file",
        ),
    ],
)
def test_bad_model_params_are_named(params, message):
    with pytest.raises(InputError, match=message):
        build_model(params, 3)


def test_a_checkpoint_of_other_shapes_or_another_network_is_refused(tmp_path):
    torch.save(models.resnet50(weights=None).state_dict(), tmp_path / "r50.pt")
    with pytest.raises(InputError, match=r"r50.pt: conv1.weight|r50.pt: layer1.0.conv1.weight"):
        build_model(ModelParams("resnet18", weights=str(tmp_path / "r50.pt")), 3)
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="other.pt: not a ResNet checkpoint"):
        build_model(ModelParams("resnet18", weights=str(tmp_path / "other.pt")), 3)


class Planted:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, capsys):
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"conv1.weight": Planted()}, f)
    with pytest.raises(InputError, match="evil.pt: not a readable checkpoint"):
        build_model(ModelParams("resnet18", weights=str(tmp_path / "evil.pt")), 3)
    assert "unpickled!" not in capsys.readouterr().out


def test_auto_is_pretrained_efficientnet_for_photos_and_a_small_resnet_otherwise():
    from models.vision import PACKAGED, resolve

    auto = ModelParams(architecture="auto")
    assert resolve(auto, photos=True) == ModelParams("efficientnet_lite0", PACKAGED)
    assert resolve(auto, photos=False) == ModelParams("resnet18", None)


def test_the_packaged_efficientnet_weights_load_offline_under_a_new_head():
    from models.vision import PACKAGED, packaged_checkpoint, read_state_dict

    model = build_model(ModelParams("efficientnet_lite0", PACKAGED), 2)
    shipped = read_state_dict(packaged_checkpoint())
    assert torch.equal(model.state_dict()["_conv_stem.weight"], shipped["_conv_stem.weight"])
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 2)


def test_weights_of_another_architecture_name_the_file_and_first_mismatched_key(tmp_path):
    from models.vision import packaged_checkpoint

    with pytest.raises(InputError, match=r"efficientnet-lite0-\w+\.pth: .*first mismatch: "):
        build_model(ModelParams("resnet18", str(packaged_checkpoint())), 2)

from __future__ import annotations

import pytest
import torch
import torchvision

from dlapps import DlappsError
from dlapps.core.models import build_model, imagenet_classes, resolve_class


def test_class_names_by_index_name_and_suggestion():
    classes = imagenet_classes()
    assert resolve_class("294", classes) == 294
    assert resolve_class("Brown Bear", classes) == resolve_class("brown_bear", classes) == 294
    with pytest.raises(DlappsError, match="did you mean 'tarantula'"):
        resolve_class("tarantla", classes)
    with pytest.raises(DlappsError, match="out of range"):
        resolve_class("1000", classes)


def test_state_dict_file_and_mismatch(tmp_path):
    m = torchvision.models.resnet18()
    torch.save(m.state_dict(), tmp_path / "r18.pt")
    lm = build_model("resnet18", str(tmp_path / "r18.pt"), verbose=False)
    assert torch.equal(lm.model.fc.weight, m.fc.weight)
    with pytest.raises(DlappsError, match="does not fit"):
        build_model("alexnet", str(tmp_path / "r18.pt"), verbose=False)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DlappsError, match="cannot read weights"):
        build_model("resnet18", str(tmp_path / "junk.pt"), verbose=False)


def test_imagenet_weights_offline_message():
    with pytest.raises(DlappsError, match="TORCH_HOME"):
        build_model("resnet18", "imagenet", verbose=False)


def test_unknown_model_suggests():
    with pytest.raises(DlappsError, match="did you mean"):
        build_model("resnet5", "random")


@pytest.mark.shared
def test_shared_mobilenet_predicts_real_photos(shared_env):
    import numpy as np

    lm = build_model("mobilenet_v2", "imagenet", verbose=False)
    d = np.load(shared_env / "data" / "imagenet_samples.npz")
    x = torch.from_numpy(d["images"][:8]).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(lm.mean).view(1, 3, 1, 1)) / torch.tensor(lm.std).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = lm.model(x).argmax(1)
    assert (pred == torch.from_numpy(d["labels"][:8])).float().mean() >= 0.75


def test_one_registry_record_per_model():
    from dlapps.core.models import KNOWN_WEIGHT_FILES, LAYER_ALIASES, REGISTRY, build_model, model_spec

    assert model_spec("mnist_cnn").in_channels == 1 and model_spec("mnist_cnn").input_size == 28
    other = model_spec("resnet18")  # any torchvision classifier: ImageNet defaults
    assert (other.in_channels, other.input_size, other.aliases) == (3, 224, {})
    assert LAYER_ALIASES["vgg16"]["relu7"] == REGISTRY["vgg16"].aliases["relu7"] == "classifier.4"
    assert KNOWN_WEIGHT_FILES["squeezenet1_1"] == list(REGISTRY["squeezenet1_1"].weight_files)
    lm = build_model("mnist_cnn", "random", verbose=False)
    assert lm.in_channels == 1 and (lm.mean, lm.std, lm.input_size) == (model_spec("mnist_cnn").mean,
                                                                        model_spec("mnist_cnn").std, 28)

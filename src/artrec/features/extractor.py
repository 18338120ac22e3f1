"""The :class:`FeatureExtractor` interface that every feature extractor implements.

An extractor turns decoded RGB images into fixed-length vectors in two steps, so that the
batched runner (and the Ray engine) can run them in different processes:

1. :meth:`FeatureExtractor.preprocess` -- one PIL image to one numpy array. It is cheap,
   needs no model and runs in the data-loading worker processes. It must return arrays of
   the same shape and dtype for every image, so that a batch can be stacked.
2. :meth:`FeatureExtractor.forward` -- a stacked batch ``(n, *shape)`` to an ``(n, dim)``
   float32 matrix. It runs in the main process (or a Ray actor) after :meth:`setup` has
   loaded the model once onto a device.

Extractors are picklable: pickling drops the loaded model (it is rebuilt by :meth:`setup`),
so sending an extractor to a worker process or an actor costs only its configuration.

:class:`TorchModelExtractor` implements the torch plumbing shared by the CNNs: device
choice, ``channels_last``, bf16/fp16 autocast and input normalisation.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from PIL import Image

from artrec import __version__
from artrec.errors import ArtrecError, MissingDependencyError

#: Accepted values of ``precision``.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: What a run accepts: :data:`PRECISIONS` or ``"auto"`` (see :func:`resolve_precision`).
RUN_PRECISIONS: tuple[str, ...] = ("auto", *PRECISIONS)


class FeatureExtractor(ABC):
    """A named image-to-vector transform with its own preprocessing.

    Subclasses set :attr:`name` and :attr:`dim` in ``__init__`` (which must stay cheap:
    no model is built there) and implement :meth:`preprocess`, :meth:`forward` and
    :meth:`info`.
    """

    #: Short name, used as the feature set's file stem (``features/<name>.npy``).
    name: str
    #: Length of the feature vector.
    dim: int
    #: The longer side :meth:`preprocess` downscales every image to, when it does; the
    #: reader may then decode large JPEGs at a reduced scale (``size_hint`` of
    #: :func:`artrec.images.read_image`). ``None``: images are decoded in full.
    decode_size: int | None = None

    def setup(self, device: str = "auto", precision: str = "fp32") -> None:  # noqa: B027
        """Load the model onto ``device`` (idempotent). Extractors without a model do nothing.

        Parameters
        ----------
        device
            ``"auto"`` (cuda, then mps, then cpu), or a torch device string.
        precision
            ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast); ignored by extractors
            without a model.
        """

    @abstractmethod
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Turn one decoded RGB image into the array that :meth:`forward` consumes.

        Parameters
        ----------
        image
            An RGB image (as returned by :func:`artrec.images.read_image`).

        Returns
        -------
        numpy.ndarray
            Same shape and dtype for every image.
        """

    @abstractmethod
    def forward(self, batch: np.ndarray) -> np.ndarray:
        """Features of a stacked batch of preprocessed arrays.

        Parameters
        ----------
        batch
            ``(n, *preprocessed_shape)`` array: the outputs of :meth:`preprocess` stacked.

        Returns
        -------
        numpy.ndarray
            ``(n, dim)`` float32 matrix; row ``i`` depends on item ``i`` only.
        """

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """Description for the feature set's JSON sidecar.

        Returns
        -------
        dict
            JSON-serialisable; at least ``extractor``, ``model``, ``weights``,
            ``preprocessing``, ``dim`` and ``artrec_version``.
        """

    def fingerprint(self) -> str:
        """A string that changes whenever the features would change (model, weights,
        preprocessing). The runner refuses to mix shards or rows of different fingerprints."""
        info = {
            k: v
            for k, v in self.info().items()
            if k not in ("artrec_version", "device", "precision")
        }
        return json.dumps(info, sort_keys=True, default=str)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def resolve_device(device: str = "auto") -> str:
    """The torch device to use: ``"auto"`` picks cuda, then mps, then cpu.

    Parameters
    ----------
    device
        ``"auto"`` or an explicit device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns
    -------
    str
        A device string that torch accepts.

    Raises
    ------
    ArtrecError
        When the named device is not available on this machine.
    """
    torch = import_torch()
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ArtrecError(
            f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArtrecError(f"device {device!r} requested but CUDA is not available here")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ArtrecError(f"device {device!r} requested but MPS is not available here")
    return str(dev)


def import_torch() -> Any:
    """Import torch, or raise :class:`MissingDependencyError` saying how to install it."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the torch extra
        raise MissingDependencyError(
            "torch is not installed (CNN features and the learned models CuratorNet, VBPR "
            "and the metadata-supervised transform need it): pip install 'artrec[torch]'"
        ) from None
    return torch


def check_precision(precision: str) -> str:
    """Validate ``precision`` (``fp32``/``bf16``/``fp16``) and return it."""
    if precision not in PRECISIONS:
        raise ArtrecError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return precision


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (``avx512_bf16`` or ``amx_bf16`` among
    the flags of ``/proc/cpuinfo``; ``False`` where that file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, extractor: FeatureExtractor, device: str) -> str:
    """The precision a run uses: ``"auto"`` is ``bf16`` for a torch model on a CPU with native
    bfloat16 (:func:`cpu_has_native_bf16`) or on a CUDA GPU that supports it, else ``fp32``;
    anything else is validated and returned.

    bf16 features stay within the tolerance the tests hold them to (cosine similarity above
    0.98 to the fp32 features of the same image, on real paintings); they are never mixed
    with fp32 ones (the precision is part of the extractor's fingerprint in the runner).
    """
    if precision != "auto":
        return check_precision(precision)
    if not isinstance(extractor, TorchModelExtractor):
        return "fp32"
    dev = resolve_device(device)
    if dev.startswith("cpu"):
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if dev.startswith("cuda"):
        torch = import_torch()
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


class TorchModelExtractor(FeatureExtractor):
    """Base class for extractors that run a torch model on uint8 image tensors.

    :meth:`preprocess` resizes (and possibly crops) to the model's input size and returns
    a ``(3, H, W)`` uint8 array; normalisation ``(x - mean) / std`` (in 0..255 units)
    happens on the device in :meth:`forward`, so worker processes ship 4x fewer bytes.

    Subclasses implement :meth:`build_model` (returns an ``nn.Module`` in eval mode whose
    output is the ``(n, dim)`` feature) and :meth:`preprocess`, and set ``mean``/``std``.

    Parameters
    ----------
    channels_last
        Use the channels-last memory format. ``None`` (default): on CUDA only, where
        convolutions are faster with it; on CPU it is off unless asked for.
    """

    #: Per-channel mean and std in 0..255 units.
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __init__(self, channels_last: bool | None = None) -> None:
        self.channels_last = channels_last
        self.device_: str | None = None
        self.precision_: str = "fp32"
        self._model: Any = None

    @abstractmethod
    def build_model(self) -> Any:
        """Build the feature model with its weights (CPU, eval mode); called by :meth:`setup`."""

    def setup(self, device: str = "auto", precision: str = "fp32") -> None:
        """Build the model once and move it to ``device`` (see :meth:`FeatureExtractor.setup`)."""
        torch = import_torch()
        check_precision(precision)
        dev = resolve_device(device)
        if self._model is None:
            self._model = self.build_model().eval()
        if self.device_ != dev:
            self._model = self._model.to(dev)
            if self._use_channels_last(dev):
                self._model = self._model.to(memory_format=torch.channels_last)
            self.device_ = dev
        self.precision_ = precision

    @property
    def model(self) -> Any:
        """The loaded torch module (calls :meth:`setup` with defaults if needed)."""
        if self._model is None:
            self.setup()
        return self._model

    def _use_channels_last(self, device: str) -> bool:
        if self.channels_last is None:
            return device.startswith("cuda")
        return bool(self.channels_last)

    def to_input(self, batch: np.ndarray) -> Any:
        """Move a uint8 ``(n, 3, H, W)`` batch to the device as a normalised float tensor."""
        torch = import_torch()
        if self._model is None:
            self.setup()
        dev = self.device_ or "cpu"
        x = torch.as_tensor(np.asarray(batch))
        x = x.pin_memory().to(dev, non_blocking=True) if dev.startswith("cuda") else x.to(dev)
        x = x.float()
        mean = torch.tensor(self.mean, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        x = (x - mean) / std
        if self._use_channels_last(dev):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def run_model(self, module: Any, x: Any) -> Any:
        """Run ``module`` on ``x`` under ``inference_mode`` and the configured autocast."""
        torch = import_torch()
        dev_type = (self.device_ or "cpu").split(":")[0]
        with torch.inference_mode():
            if self.precision_ == "fp32":
                return module(x)
            dtype = torch.bfloat16 if self.precision_ == "bf16" else torch.float16
            try:
                with torch.autocast(device_type=dev_type, dtype=dtype):
                    return module(x)
            except RuntimeError as exc:
                raise ArtrecError(
                    f"precision {self.precision_} is not supported on device {self.device_}: {exc}"
                ) from None

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """Features of a uint8 batch (see :meth:`FeatureExtractor.forward`)."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.run_model(self.model, self.to_input(batch))
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = None
        state["device_"] = None
        return state


def resize_to(image: Image.Image, size: int) -> np.ndarray:
    """Resize the whole image (no crop) to ``size x size`` bilinearly; ``(3, size, size)`` uint8."""
    im = image if image.mode == "RGB" else image.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))


def resize_center_crop(image: Image.Image, resize: int, crop: int, resample: int) -> np.ndarray:
    """Resize the shorter side to ``resize``, centre-crop ``crop x crop``; ``(3, crop, crop)`` uint8.

    This is torchvision's ``Resize(resize) + CenterCrop(crop)`` on a PIL image.
    """
    im = image if image.mode == "RGB" else image.convert("RGB")
    w, h = im.size
    if w <= h:
        nw, nh = resize, max(1, int(resize * h / w))
    else:
        nw, nh = max(1, int(resize * w / h)), resize
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), resample)
    left = round((nw - crop) / 2.0)
    top = round((nh - crop) / 2.0)
    im = im.crop((left, top, left + crop, top + crop))
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))


def base_info(extractor: FeatureExtractor) -> dict[str, Any]:
    """Fields every :meth:`FeatureExtractor.info` carries (name, dim, class, artrec version)."""
    return {
        "extractor": extractor.name,
        "dim": extractor.dim,
        "class": f"{type(extractor).__module__}.{type(extractor).__name__}",
        "artrec_version": __version__,
    }

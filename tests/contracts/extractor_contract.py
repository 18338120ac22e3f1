"""The contract every :class:`~artrec.features.extractor.FeatureExtractor` must meet.

Use it as a mixin::

    class TestMyExtractor(ExtractorContract):
        def make_extractor(self) -> FeatureExtractor:
            return MyExtractor()

The images are small synthetic RGB pictures of different sizes and aspect ratios.
"""

from __future__ import annotations

import json
import pickle
import re
from typing import Any

import numpy as np
from PIL import Image

from artrec.features.extractor import FeatureExtractor

_READY: dict[type, FeatureExtractor] = {}

REQUIRED_INFO_KEYS = ("extractor", "dim", "artrec_version", "preprocessing", "model", "weights")


def contract_images() -> list[Image.Image]:
    """Four distinct RGB images: square, wide, tall, tiny."""
    rng = np.random.default_rng(123)
    out = []
    for w, h in ((48, 48), (80, 40), (30, 70), (9, 9)):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 255 * (x + y) / (w + h - 2)], axis=2)
        noise = rng.integers(-30, 30, size=base.shape)
        out.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)))
    return out


class ExtractorContract:
    """Mixin of tests; subclasses implement :meth:`make_extractor`."""

    #: Absolute tolerance when comparing a row computed in a batch with the same row alone.
    batch_atol: float = 1e-4

    def make_extractor(self) -> FeatureExtractor:
        raise NotImplementedError

    def _ready(self) -> FeatureExtractor:
        # one set-up extractor per test class: loading a model is the slow part
        ext = _READY.get(type(self))
        if ext is None:
            ext = self.make_extractor()
            ext.setup("cpu", "fp32")
            _READY[type(self)] = ext
        return ext

    def _batch(self, ext: FeatureExtractor) -> np.ndarray:
        return np.stack([ext.preprocess(im) for im in contract_images()])

    def test_name_and_dim(self) -> None:
        ext = self.make_extractor()
        assert isinstance(ext.name, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", ext.name)
        assert isinstance(ext.dim, int) and ext.dim > 0

    def test_preprocess_gives_one_shape_and_dtype(self) -> None:
        ext = self.make_extractor()
        arrays = [ext.preprocess(im) for im in contract_images()]
        assert all(isinstance(a, np.ndarray) for a in arrays)
        assert len({a.shape for a in arrays}) == 1
        assert len({a.dtype for a in arrays}) == 1

    def test_forward_shape_dtype_finite(self) -> None:
        ext = self._ready()
        out = ext.forward(self._batch(ext))
        assert out.shape == (4, ext.dim)
        assert out.dtype == np.float32
        assert np.isfinite(out).all()
        assert not np.allclose(out[0], out[1])  # different images, different features

    def test_rows_do_not_depend_on_the_batch(self) -> None:
        ext = self._ready()
        batch = self._batch(ext)
        together = ext.forward(batch)
        for i in (0, len(batch) - 1):
            alone = ext.forward(batch[i : i + 1])[0]
            np.testing.assert_allclose(together[i], alone, atol=self.batch_atol, rtol=1e-4)

    def test_forward_is_deterministic(self) -> None:
        ext = self._ready()
        batch = self._batch(ext)
        np.testing.assert_array_equal(ext.forward(batch), ext.forward(batch))

    def test_empty_batch(self) -> None:
        ext = self._ready()
        shape = self._batch(ext).shape[1:]
        out = ext.forward(np.zeros((0, *shape), dtype=self._batch(ext).dtype))
        assert out.shape == (0, ext.dim)

    def test_info_is_json_and_complete(self) -> None:
        ext = self.make_extractor()
        info: dict[str, Any] = json.loads(json.dumps(ext.info()))
        for key in REQUIRED_INFO_KEYS:
            assert key in info, key
        assert info["extractor"] == ext.name
        assert info["dim"] == ext.dim
        assert isinstance(ext.fingerprint(), str)
        assert ext.fingerprint() == self.make_extractor().fingerprint()

    def test_pickles_without_the_model(self) -> None:
        ext = self._ready()
        data = pickle.dumps(ext)
        assert len(data) < 200_000  # configuration only, never the weights
        clone = pickle.loads(data)
        im = contract_images()[1]
        np.testing.assert_array_equal(clone.preprocess(im), ext.preprocess(im))
        clone.setup("cpu", "fp32")
        batch = self._batch(ext)[:1]
        np.testing.assert_allclose(clone.forward(batch), ext.forward(batch), atol=1e-6)

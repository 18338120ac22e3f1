"""Several extractors at once (``extract_all``): the same features as one at a time, the
model-free extractor in a side process next to the CNN, threads sized and restored,
``auto`` precision, and the phase timings the demo prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from _image_factory import gradient_rgb, save_jpeg  # noqa: E402
from artrec.errors import DataError  # noqa: E402
from artrec.features.api import extract, extract_all, get_extractor  # noqa: E402
from artrec.features.extractor import cpu_has_native_bf16, resolve_precision  # noqa: E402
from artrec.features.runner import available_cores, run_extraction  # noqa: E402

NAMES = ["efficientnet_lite0", "handcrafted"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("images")
    return {
        f"img{i}": str(save_jpeg(folder / f"img{i}.jpg", gradient_rgb(90 + 7 * i, 70, seed=i)))
        for i in range(10)
    }


def test_extract_all_equals_one_extractor_at_a_time(images: dict[str, str], tmp_path: Path) -> None:
    features, phase = extract_all(
        images, NAMES, output_dir=tmp_path / "all", precision="fp32", batch_size=4
    )
    assert phase.concurrent == (available_cores() >= 2)
    assert set(features) == set(NAMES) == set(phase.reports) == set(phase.extractors)
    for name in NAMES:
        alone = extract(images, name, output_dir=tmp_path / name, precision="fp32", batch_size=4)
        assert features[name].item_ids.tolist() == alone.item_ids.tolist() == sorted(images)
        # the CNN ran on fewer threads next to the side process: same up to summation order
        np.testing.assert_allclose(features[name].matrix, alone.matrix, atol=1e-4, rtol=1e-4)
    assert phase.total.wall_s > 0 and phase.total.user_s > 0 and phase.total.system_s >= 0
    if phase.concurrent:  # the side process measured its own CPU time
        assert phase.extractors["handcrafted"].user_s > 0
    assert phase.to_dict()["precision"] == {name: "fp32" for name in NAMES}


def test_auto_precision_and_its_tolerance(images: dict[str, str], tmp_path: Path) -> None:
    cnn = get_extractor("efficientnet_lite0")
    expected = "bf16" if cpu_has_native_bf16() else "fp32"
    assert resolve_precision("auto", cnn, "cpu") == expected
    assert resolve_precision("auto", get_extractor("handcrafted"), "cpu") == "fp32"
    assert resolve_precision("fp16", cnn, "cpu") == "fp16"
    auto = extract(images, cnn, output_dir=tmp_path / "auto", precision="auto")
    assert auto.meta["precision"] == expected
    full = extract(images, "efficientnet_lite0", output_dir=tmp_path / "fp32", precision="fp32")
    a, b = auto.matrix, full.matrix
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.98  # the tolerance bf16 is held to in test_extractors.py


def test_runner_sets_and_restores_torch_threads(images: dict[str, str], tmp_path: Path) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    asked = iter([1, 1, 1])
    run_extraction(
        list(images.items()),
        get_extractor("efficientnet_lite0"),
        tmp_path,
        batch_size=2,
        device="cpu",
        num_threads=lambda: next(asked, 2),
        progress=lambda done, total: seen.append(torch.get_num_threads()),
    )
    assert seen[0] == 1 and seen[-1] == 2 and len(seen) == 5
    assert torch.get_num_threads() == before


def test_extract_all_needs_somewhere_to_write(images: dict[str, str]) -> None:
    with pytest.raises(DataError, match="workspace or an output_dir"):
        extract_all(images, NAMES)
    with pytest.raises(DataError, match="listed twice"):
        extract_all(images, ["handcrafted", "handcrafted"], output_dir="/nonexistent")

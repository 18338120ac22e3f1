"""Ray extraction on a local 2-CPU Ray instance: the features equal the single-process
runner's (real public-art thumbnails, the hand-engineered features and a real CNN), bad
images are reported the same way, grown catalogues extract only new items, and
``artrec extract --engine ray`` works end to end."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from _ray import local_ray  # noqa: E402
from artrec.errors import DataError  # noqa: E402
from artrec.features.api import extract, get_extractor, items_from  # noqa: E402
from artrec.features.ray_engine import extract_with_ray  # noqa: E402
from artrec.vectors import FeatureSet  # noqa: E402

pytestmark = pytest.mark.slow

__all__ = ["local_ray"]  # the shared fixture, used by name


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight real thumbnails and one corrupt file."""
    home = os.environ.get("ARTREC_DATA_HOME")
    thumbs = Path(home or "") / "public-art" / "thumbnails"
    if not home or not thumbs.is_dir():
        pytest.skip("ARTREC_DATA_HOME does not point at the datasets folder")
    folder = tmp_path_factory.mktemp("ray-images")
    for path in sorted(thumbs.glob("*.jpg"))[:8]:
        shutil.copy(path, folder / path.name)
    (folder / "zz-broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


def _pairs(folder: Path) -> list[tuple[str, str | None]]:
    return [(it.item_id, it.source) for it in items_from(folder)]


@pytest.mark.parametrize(("name", "atol"), [("handcrafted", 1e-6), ("efficientnet_lite0", 1e-4)])
def test_ray_features_equal_the_local_runner(
    local_ray: None, images: Path, tmp_path: Path, name: str, atol: float
) -> None:
    calls: list[tuple[int, int]] = []
    got = extract_with_ray(
        _pairs(images),
        get_extractor(name),
        output_dir=tmp_path / "ray",
        batch_size=3,
        concurrency=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    ref = extract(images, name, output_dir=tmp_path / "local", num_workers=0)
    assert got.item_ids.tolist() == ref.item_ids.tolist() and len(got) == 8
    np.testing.assert_allclose(got.matrix, ref.matrix, atol=atol, rtol=1e-4)
    assert [b["item_id"] for b in got.meta["bad_items"]] == ["zz-broken"]
    assert got.meta["bad_items"][0]["reason"] == ref.meta["bad_items"][0]["reason"]
    assert got.meta["engine"] == "ray" and got.meta["device"] == "cpu"
    assert calls[-1] == (9, 9)
    # Same files, same format: the later steps read it like any feature set.
    stored = FeatureSet.load(tmp_path / "ray", name)
    np.testing.assert_array_equal(stored.matrix, got.matrix)
    assert (
        json.loads((tmp_path / "ray" / f"{name}.json").read_text())["fingerprint"]
        == ref.meta["fingerprint"]
    )


def test_grown_catalogue_extracts_only_new_items(
    local_ray: None, images: Path, tmp_path: Path
) -> None:
    pairs = _pairs(images)
    extractor = get_extractor("handcrafted")
    extract_with_ray(pairs[:5], extractor, output_dir=tmp_path, batch_size=4, concurrency=1)
    calls: list[tuple[int, int]] = []
    grown = extract_with_ray(
        pairs,
        extractor,
        output_dir=tmp_path,
        batch_size=4,
        concurrency=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (4, 4)  # 3 new images + the broken one
    assert len(grown) == 8
    ref = extract(images, "handcrafted", output_dir=tmp_path / "local", num_workers=0)
    np.testing.assert_allclose(grown.matrix, ref.matrix, atol=1e-6)
    # Nothing left to do: no Ray work at all.
    calls.clear()
    again = extract_with_ray(
        pairs,
        extractor,
        output_dir=tmp_path,
        concurrency=1,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [] and len(again) == 8


def test_cli_engine_ray(
    local_ray: None, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from artrec.cli import main

    out = tmp_path / "features"
    code = main(
        [
            "extract",
            "--folder",
            str(images),
            "-o",
            str(out),
            "--extractor",
            "handcrafted",
            "--engine",
            "ray",
            "--batch-size",
            "4",
            "--no-progress",
            "--format",
            "json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    row = json.loads(capsys.readouterr().out)[0]
    assert row["items"] == 8 and row["bad"] == 1
    ref = extract(images, "handcrafted", output_dir=tmp_path / "local", num_workers=0)
    np.testing.assert_allclose(FeatureSet.load(out, "handcrafted").matrix, ref.matrix, atol=1e-6)


def test_bad_arguments_are_named(local_ray: None, images: Path, tmp_path: Path) -> None:
    extractor = get_extractor("handcrafted")
    with pytest.raises(DataError, match="batch_size"):
        extract_with_ray(_pairs(images), extractor, output_dir=tmp_path, batch_size=0)
    with pytest.raises(DataError, match="concurrency"):
        extract_with_ray(_pairs(images), extractor, output_dir=tmp_path, concurrency=0)
    with pytest.raises(DataError, match="has no GPU"):
        extract_with_ray(_pairs(images), extractor, output_dir=tmp_path, num_gpus_per_actor=1)

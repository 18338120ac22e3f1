"""The batched extraction runner: bad items, resume after a real kill, grown catalogues, CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from _image_factory import cmyk_jpeg_bytes, write_broken_five, write_good_images
from artrec.data.catalog import Catalog
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.features.api import extract, extract_with_report, items_from
from artrec.features.handcrafted import HandcraftedExtractor
from artrec.features.runner import ExtractionItem, ShardStore, run_extraction
from artrec.images.fetch import FetchOptions
from artrec.vectors import FeatureSet

pytest.importorskip("torch")


def test_folder_extraction_writes_feature_set_and_sidecar(tmp_path: Path) -> None:
    write_good_images(tmp_path / "imgs", 5)
    out = tmp_path / "features"
    fs = extract(tmp_path / "imgs", "handcrafted", output_dir=out, num_workers=0, batch_size=2)
    assert fs.item_ids.tolist() == [f"img{i:03d}" for i in range(5)]
    assert fs.matrix.shape == (5, 18)
    assert FeatureSet.available(out) == ["handcrafted"]
    loaded = FeatureSet.load(out, "handcrafted")
    np.testing.assert_array_equal(loaded.matrix, fs.matrix)
    meta = json.loads((out / "handcrafted.json").read_text())
    for key in (
        "model",
        "weights",
        "preprocessing",
        "dtype",
        "artrec_version",
        "n_bad",
        "bad_items",
    ):
        assert key in meta, key
    assert meta["dtype"] == "float32" and meta["n_bad"] == 0 and meta["n_items"] == 5
    assert not (out / ".handcrafted.shards").exists()  # shards are merged and removed
    # each row equals the features of that image computed directly
    from artrec.features.handcrafted import attractiveness_features
    from artrec.images import read_image

    direct = attractiveness_features(read_image(tmp_path / "imgs" / "img003.jpg"))
    np.testing.assert_array_equal(fs.matrix[3], direct)


def test_exactly_the_five_broken_files_are_listed(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    expected = write_broken_five(folder)
    write_good_images(folder, 4)
    (folder / "cmyk_ok.jpg").write_bytes(cmyk_jpeg_bytes())  # a valid CMYK JPEG is converted
    seen: list[tuple[int, int]] = []
    fs, report = extract_with_report(
        folder,
        "handcrafted",
        output_dir=tmp_path / "out",
        num_workers=1,  # decode in a worker process
        batch_size=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert {b.item_id: b.reason for b in report.bad} == expected
    assert report.n_bad == 5 and report.n_extracted == 5
    assert sorted(fs.item_ids.tolist()) == ["cmyk_ok", "img000", "img001", "img002", "img003"]
    assert seen[-1] == (10, 10)
    meta = json.loads((tmp_path / "out" / "handcrafted.json").read_text())
    assert meta["n_bad"] == 5
    assert {b["item_id"] for b in meta["bad_items"]} == set(expected)
    # a second run does not retry them, and still lists them
    fs2, report2 = extract_with_report(
        folder, "handcrafted", output_dir=tmp_path / "out", num_workers=0
    )
    assert report2.n_extracted == 0 and report2.n_new_bad == 0 and report2.n_bad == 5
    np.testing.assert_array_equal(fs2.matrix, fs.matrix)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from artrec.features.api import get_extractor, items_from
    from artrec.features.runner import run_extraction

    folder, out = sys.argv[1], sys.argv[2]
    def slow(done, total):
        time.sleep(0.4)  # give the parent time to kill us mid-run
    run_extraction(items_from(folder), get_extractor("efficientnet_lite0"), out,
                   batch_size=3, shard_size=3, num_workers=1, device="cpu", progress=slow)
    """
)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_features(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    folder = tmp_path / "imgs"
    write_good_images(folder, 15, size=(48, 40))
    out = tmp_path / "resumed"
    shards = out / ".efficientnet_lite0.shards"
    # its own process group, so the kill takes its DataLoader worker too (an orphaned worker
    # would wait on its queue forever)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(folder), str(out)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(shards.glob("shard-*.json"))) < 2:
            assert proc.poll() is None, "the extraction finished or failed before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "efficientnet_lite0.npy").exists()
    done_before = len(ShardStore(shards, "").read()[0])
    assert 6 <= done_before < 15

    items = items_from(folder)
    from artrec.features.api import get_extractor

    resumed, report = run_extraction(
        items,
        get_extractor("efficientnet_lite0"),
        out,
        batch_size=3,
        shard_size=3,
        num_workers=0,
        device="cpu",
    )
    assert report.n_reused == done_before
    assert report.n_extracted == 15 - done_before
    once, _ = run_extraction(
        items,
        get_extractor("efficientnet_lite0"),
        tmp_path / "once",
        batch_size=3,
        shard_size=3,
        num_workers=0,
        device="cpu",
    )
    assert resumed.item_ids.tolist() == once.item_ids.tolist()
    np.testing.assert_array_equal(resumed.matrix, once.matrix)  # identical, bit for bit


def test_grown_catalogue_extracts_only_new_items(tmp_path: Path) -> None:
    paths = write_good_images(tmp_path / "imgs", 9)
    out = tmp_path / "out"
    first = [ExtractionItem(f"a{i}", str(p)) for i, p in enumerate(paths[:6])]
    fs1, r1 = run_extraction(first, HandcraftedExtractor(), out, num_workers=0, batch_size=4)
    assert r1.n_extracted == 6
    # the catalogue grows, with a new item in the middle of the order
    grown = [*first[:3], ExtractionItem("new0", str(paths[6])), *first[3:]]
    grown += [ExtractionItem(f"new{i}", str(paths[6 + i])) for i in (1, 2)]
    calls: list[tuple[int, int]] = []
    fs2, r2 = run_extraction(
        grown,
        HandcraftedExtractor(),
        out,
        num_workers=0,
        batch_size=4,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert (r2.n_extracted, r2.n_reused) == (3, 6)
    assert calls[-1] == (3, 3)
    assert fs2.item_ids.tolist() == [it.item_id for it in grown]
    np.testing.assert_array_equal(fs2.align(fs1.item_ids).matrix, fs1.matrix)
    # another configuration of the extractor (another fingerprint) re-extracts everything
    fs3, r3 = run_extraction(grown, HandcraftedExtractor(max_side=16), out, num_workers=0)
    assert r3.n_extracted == 9 and r3.n_reused == 0
    assert not np.array_equal(fs3.matrix, fs2.matrix)


def test_stale_shards_of_another_configuration_are_dropped(tmp_path: Path) -> None:
    paths = write_good_images(tmp_path / "imgs", 3)
    out = tmp_path / "out"
    stale = ShardStore(out / ".handcrafted.shards", "some other fingerprint")
    stale.open()
    stale.write(["x0"], np.ones((1, 18), np.float32), [])
    items = [ExtractionItem(f"x{i}", str(p)) for i, p in enumerate(paths)]
    fs, report = run_extraction(items, HandcraftedExtractor(), out, num_workers=0)
    assert report.n_extracted == 3 and report.n_reused == 0
    assert not np.allclose(fs.matrix[0], 1.0)


def test_workspace_catalogue_with_relative_paths_urls_and_missing_images(tmp_path: Path) -> None:
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    ws = Workspace.create(tmp_path / "ws")
    write_good_images(ws.root / "pics", 3)
    served = tmp_path / "served"
    write_good_images(served, 1)

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(served), **k)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/img000.jpg"
        images = np.array(
            ["pics/img000.jpg", "pics/img001.jpg", url, None, "pics/nope.jpg"], dtype=object
        )
        ws.upsert_items(
            Catalog(np.array(["p0", "p1", "u0", "none", "gone"], dtype=object), image=images)
        )
        # the test server is on loopback, which fetching refuses unless explicitly allowed
        local = FetchOptions(allow_private=True)
        fs, report = extract_with_report(ws, "handcrafted", num_workers=0, fetch_options=local)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert fs.item_ids.tolist() == ["p0", "p1", "u0"]
    assert {b.item_id: b.reason for b in report.bad} == {"none": "no image", "gone": "missing file"}
    assert FeatureSet.available(ws.features_dir) == ["handcrafted"]
    assert len(list(ws.images_dir.iterdir())) == 1  # the URL was cached in the workspace
    np.testing.assert_array_equal(fs.matrix[2], fs.matrix[0])  # same picture, local and remote
    assert ws.runs("extract")


def test_input_validation(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="duplicate item id 'a'"):
        run_extraction([("a", "x.jpg"), ("a", "y.jpg")], HandcraftedExtractor(), tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        items_from(tmp_path / "nowhere")
    with pytest.raises(DataError, match="batch_size"):
        run_extraction([("a", "x.jpg")], HandcraftedExtractor(), tmp_path, batch_size=0)


def test_list_input_without_output_dir_is_kept_in_memory(tmp_path: Path) -> None:
    paths = write_good_images(tmp_path / "imgs", 3)
    before = set(tmp_path.rglob("*"))
    fs = extract([str(p) for p in paths], "handcrafted", num_workers=0)
    assert fs.item_ids.tolist() == [str(p) for p in paths]
    assert set(tmp_path.rglob("*")) == before
    embedding = pytest.importorskip("artrec.embedding")
    vectors = embedding.Embedding(n_components=2).fit_transform([fs])
    assert vectors.matrix.shape == (3, 2)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from artrec.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_extract_folder_and_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "imgs"
    write_good_images(folder, 2)
    (folder / "zero.jpg").write_bytes(b"")
    out = tmp_path / "features"
    common = ("--extractor", "handcrafted", "--workers", "0")
    code, stdout, stderr = _cli(capsys, "extract", "--folder", str(folder), "-o", str(out), *common)
    assert code == 0, stderr
    assert "zero-byte file" in stdout and "handcrafted" in stdout
    assert "item/s" in stderr  # the tqdm bar shows a rate
    code, stdout, _ = _cli(
        capsys, "extract", "--folder", str(folder), "-o", str(out), *common, "--format", "json"
    )
    assert code == 0
    summary = json.loads(stdout)[0]
    assert (summary["items"], summary["extracted"], summary["reused"], summary["bad"]) == (
        2,
        0,
        2,
        1,
    )
    # a catalogue file whose image paths are relative to the file
    (folder / "catalogue.csv").write_text(
        "item_id,title,image\nx,First,img000.jpg\ny,Second,img001.jpg\n"
    )
    code, stdout, stderr = _cli(
        capsys,
        "extract",
        "--catalog",
        str(folder / "catalogue.csv"),
        "-o",
        str(tmp_path / "cat"),
        *common,
        "--format",
        "json",
        "--no-progress",
    )
    assert code == 0, stderr
    assert json.loads(stdout)[0]["items"] == 2
    assert FeatureSet.load(tmp_path / "cat", "handcrafted").item_ids.tolist() == ["x", "y"]


def test_cli_extract_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = _cli(capsys, "extract", "--folder", str(tmp_path / "nowhere"))
    assert code == 2 and "not a directory" in stderr
    code, _, stderr = _cli(capsys, "extract", "--folder", str(tmp_path), "--extractor", "nosuchnet")
    assert code == 2 and "unknown extractor" in stderr
    code, _, stderr = _cli(capsys, "extract", "-w", str(tmp_path / "no-ws"))
    assert code == 2 and "error" in stderr
    code, _, stderr = _cli(capsys, "extract", "--folder", str(tmp_path), "--address", "x")
    assert code == 2 and "--engine ray" in stderr


def test_precision_is_part_of_a_torch_extractor_fingerprint(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    from artrec.features.efficientnet import EfficientNetLite0Extractor
    from artrec.features.runner import plan_extraction

    items = [("a", "a.jpg")]
    fp32 = plan_extraction(items, EfficientNetLite0Extractor(), tmp_path / "1").fingerprint
    bf16 = plan_extraction(items, EfficientNetLite0Extractor(), tmp_path / "2", precision="bf16")
    assert bf16.fingerprint != fp32
    hand = [
        plan_extraction(items, HandcraftedExtractor(), tmp_path / p, precision=p).fingerprint
        for p in ("fp32", "bf16")
    ]
    assert hand[0] == hand[1]  # no model, no precision


def test_cli_extract_precision_auto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--precision auto`` is a CLI choice; a model without autocast resolves it to fp32."""
    folder = tmp_path / "imgs"
    write_good_images(folder, 2)
    out = tmp_path / "features"
    common = ("--extractor", "handcrafted", "--workers", "0", "--format", "json")
    code, stdout, stderr = _cli(
        capsys, "extract", "--folder", str(folder), "-o", str(out), *common, "--precision", "auto"
    )
    assert code == 0, stderr
    assert json.loads(stdout)[0]["extracted"] == 2
    assert FeatureSet.load(out, "handcrafted").meta["precision"] == "fp32"
    with pytest.raises(SystemExit) as info:  # argparse rejects it
        _cli(capsys, "extract", "--folder", str(folder), *common, "--precision", "int8")
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err

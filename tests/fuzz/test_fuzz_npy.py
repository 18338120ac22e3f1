"""Fuzzing ``.npy`` reading (:func:`artrec.vectors.load_npy`, :func:`load_matrix`)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from fuzzing import case, fuzz, outcome
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from artrec.vectors import load_matrix, load_npy

DTYPES = st.sampled_from(
    [
        np.float16,
        np.float32,
        np.float64,
        np.int8,
        np.int32,
        np.int64,
        np.uint8,
        np.bool_,
        np.complex64,
        ">f4",
        "<f8",
    ]
)
ARRAYS = arrays(DTYPES, array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))


def npy(array: np.ndarray, fortran: bool) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(array) if fortran and array.ndim else array)
    return buffer.getvalue()


def _load(data: bytes, mmap: bool) -> tuple[tuple[bool, object], tuple[bool, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.npy"
        path.write_bytes(data)
        plain = outcome(lambda: np.array(load_npy(path, mmap=mmap)))
        matrix = outcome(lambda: np.array(load_matrix(path, mmap=mmap)))
    return plain, matrix


@fuzz(300)
@given(array=ARRAYS, fortran=st.booleans(), mmap=st.booleans())
def test_saved_arrays_load_exactly(array: np.ndarray, fortran: bool, mmap: bool) -> None:
    case("npy/arrays")
    (ok, loaded), (matrix_ok, matrix) = _load(npy(array, fortran), mmap)
    assert ok, loaded
    assert isinstance(loaded, np.ndarray)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    assert np.array_equal(loaded, array, equal_nan=array.dtype.kind in "fc")
    is_matrix = array.ndim == 2 and array.dtype.kind == "f" and array.shape[1] >= 1
    assert matrix_ok == is_matrix, matrix
    if matrix_ok:
        assert np.array_equal(matrix, array, equal_nan=True)


@fuzz(400)
@given(
    array=ARRAYS,
    fortran=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3),
    swap=st.lists(
        st.tuples(
            st.sampled_from([b"(", b")", b",", b"1", b"4", b"0", b"-", b"'", b"f", b"True"]),
            st.integers(0, 200),
        ),
        max_size=2,
    ),
    tail=st.integers(-20, 20),
    mmap=st.booleans(),
)
def test_corrupted_files_never_load_scrambled(
    array: np.ndarray,
    fortran: bool,
    edits: list[tuple[int, int]],
    swap: list[tuple[bytes, int]],
    tail: int,
    mmap: bool,
) -> None:
    """A damaged header or size is refused, or what loads is exactly the file's data bytes."""
    case("npy/corrupted")
    data = bytearray(npy(array, fortran))
    for pos, byte in edits:
        data[pos % len(data)] = byte
    for piece, pos in swap:
        at = pos % len(data)
        data[at : at + 1] = piece
    if tail < 0:
        data = data[: max(len(data) + tail, 0)]
    else:
        data += bytes(tail)
    (ok, loaded), (matrix_ok, matrix) = _load(bytes(data), mmap)
    if not ok:
        assert not matrix_ok
        return
    assert isinstance(loaded, np.ndarray)
    body = bytes(data[len(data) - loaded.nbytes :]) if loaded.nbytes else b""
    assert len(data) - loaded.nbytes >= 10  # a header precedes the data
    order = "F" if loaded.flags.f_contiguous and not loaded.flags.c_contiguous else "C"
    assert loaded.tobytes(order=order) == body  # every data byte, none missing or extra
    if matrix_ok:
        assert isinstance(matrix, np.ndarray)
        assert matrix.ndim == 2 and matrix.dtype.kind == "f" and matrix.shape[1] >= 1

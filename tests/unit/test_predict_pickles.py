"""The restricted joblib/pickle reader: the seed's files load, foreign code never runs."""

from __future__ import annotations

import io
import pickle
import zlib
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import CorruptInput, TooLarge, UnsupportedType
from chalicelib.predict import pickles

np = pytest.importorskip("numpy")
joblib = pytest.importorskip("joblib")

X = (np.arange(15, dtype=np.float64).reshape(3, 5) + 0.5) / 7


def dumped(obj: Any, **options: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        dumped(X),
        dumped(np.asfortranarray(X)),
        dumped(X.astype(">f8")),
        dumped(X, compress=3),
        *(dumped(X, compress=(m, 3)) for m in ("gzip", "bz2", "xz", "lzma")),
        *(pickle.dumps(X, protocol=p) for p in range(6)),
        pickle.dumps(np.asfortranarray(X), protocol=4),
    ],
    ids=[
        "joblib",
        "joblib-fortran",
        "joblib-big-endian",
        "joblib-zlib",
        "joblib-gzip",
        "joblib-bz2",
        "joblib-xz",
        "joblib-lzma",
        *(f"pickle-{p}" for p in range(6)),
        "pickle-fortran",
    ],
)
def test_arrays_read_exactly(data: bytes) -> None:
    loaded = pickles.load(data, limit=10**6)
    assert isinstance(loaded, pickles.ArrayValue)
    assert loaded.shape == (3, 5) and loaded.rows() == X.tolist()


def test_other_dtypes_and_plain_data() -> None:
    ints = pickles.load(dumped(np.arange(10, dtype=np.int32).reshape(2, 5)), 10**6)
    assert ints.rows() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    single = pickles.load(dumped(np.float32([1.5, 2, 3, 4, 5])), 10**6)
    assert single.rows() == [[1.5, 2.0, 3.0, 4.0, 5.0]]
    plain = pickles.load(dumped([{"a": np.float64(1.5), "b": np.int64(2)}]), 10**6)
    assert plain == [{"a": 1.5, "b": 2}]


class Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (Path.touch, (self.target,))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_foreign_callables_are_refused_and_never_run(tmp_path: Path, protocol: int) -> None:
    target = tmp_path / "pwned"
    payload = pickle.dumps(Exploit(target), protocol=protocol)
    with pytest.raises(UnsupportedType, match=r"refers to (pathlib\.Path|__builtin__\.getattr)"):
        pickles.load(payload, limit=10**6)
    raw = b"cposix\nsystem\n(S'touch " + str(target).encode() + b"'\ntR."
    with pytest.raises(UnsupportedType, match=r"posix\.system"):
        pickles.load(raw, limit=10**6)
    assert not target.exists()


def test_object_arrays_are_refused() -> None:
    with pytest.raises(UnsupportedType, match=r"dtype .O"):
        pickles.load(dumped(np.array([1, "a"], dtype=object)), 10**6)


@pytest.mark.parametrize(
    "data", [b"", b"\x80\x04garbage", dumped(X)[:-30], b"x\x9cnot zlib"], ids=repr
)
def test_corrupt_files(data: bytes) -> None:
    with pytest.raises(CorruptInput):
        pickles.load(data, limit=10**6)


def test_decompression_is_bounded() -> None:
    bomb = zlib.compress(b"\0" * 2_000_000)
    assert len(bomb) < 5000
    with pytest.raises(TooLarge, match="expands to more than 100000 bytes"):
        pickles.load(bomb, limit=100_000)


def test_declared_sizes_cannot_make_the_reader_allocate() -> None:
    huge_bytearray = b"\x80\x05\x96" + (2**40).to_bytes(8, "little") + b"\x00."
    with pytest.raises(CorruptInput, match="longer than the file"):
        pickles.load(huge_bytearray, limit=10**6)
    # an array whose "data" is the integer 2**30 (bytes(2**30) would allocate 1 GiB)
    int_data = (
        b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"K\x00\x85C\x01b\x87R(K\x01K\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R"
        b"\x89J\x00\x00\x00\x40tb."
    )
    with pytest.raises(CorruptInput, match="malformed array data"):
        pickles.load(int_data, limit=10**6)

"""Read joblib and pickle files of observations without joblib, NumPy or foreign code.

The seed's batch Lambda did ``joblib.load`` on whatever the request named. A
pickle is a program: loading one runs any callable it names. This reader is
restricted instead: it resolves no global except the few a NumPy array needs
(``numpy.dtype``, ``numpy.ndarray``, joblib's ``NumpyArrayWrapper``, the
array reconstructors), each mapped to a stand-in defined here, and decodes
array bytes with ``struct``. Anything else in the file is refused with
``UnsupportedType``. It reads

- ``joblib.dump`` files, uncompressed or compressed with zlib, gzip, bz2, xz
  or lzma (not lz4), holding NumPy arrays of numbers and plain lists, tuples
  and dicts of numbers and strings;
- ``pickle.dump`` files (protocols 0-5) of the same.

What a file may make this reader allocate is bounded: at most ``max_values``
numbers in arrays and items in containers (counted with repetition: a list that
refers to another list a million times counts a million times), containers at
most ``MAX_DEPTH`` deep, and no array dimension beyond ``max_values`` (an array
of shape (10**12, 0) holds nothing and would still make 10**12 empty rows).

The service still accepts these formats only from the trusted data bucket:
this reader is a second line of defence, not a reason to trust the input.
"""

from __future__ import annotations

import io
import lzma
import math
import pickle
import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any, ClassVar

from chalicelib.errors import CorruptInput, TooLarge, UnsupportedType

# numpy dtype "kind + size" -> struct format character
_STRUCT_CODES = {
    "f8": "d",
    "f4": "f",
    "f2": "e",
    "i8": "q",
    "i4": "i",
    "i2": "h",
    "i1": "b",
    "u8": "Q",
    "u4": "I",
    "u2": "H",
    "u1": "B",
}
_BYTE_ORDERS = {"<": "<", ">": ">", "=": "=", "|": "<"}
# Rows of observations nest a few levels at most (a dict of column lists, a list of rows).
MAX_DEPTH = 8
MAX_VALUES = 2_000_000  # the default budget of numbers/items per file
_budget = threading.local()  # values left for the load running on this thread


class ArrayValue:
    """A decoded NumPy array: its shape and its values, flat, in C order."""

    def __init__(self, shape: tuple[int, ...] = (), values: list[Any] | None = None) -> None:
        self.shape = shape
        self.values: list[Any] = values if values is not None else []

    def rows(self) -> list[list[Any]]:
        """A 2-D array as a list of rows; a 1-D array as one row."""
        if len(self.shape) == 1:
            return [list(self.values)]
        if len(self.shape) != 2:
            raise UnsupportedType(f"expected a 2-D array of observations, got shape {self.shape}")
        rows, columns = self.shape
        if columns == 0:
            raise CorruptInput(f"an array of shape {self.shape} holds no observations")
        return [self.values[r * columns : (r + 1) * columns] for r in range(rows)]

    # plain pickles of arrays: numpy's _reconstruct(...) then BUILD with this state
    def __setstate__(self, state: Any) -> None:
        _version, shape, dtype, fortran, data = _array_state(state)
        decoded = _decode(dtype, _bytes(data), shape, fortran)
        self.shape, self.values = decoded.shape, decoded.values


class _DType:
    """Stand-in for ``numpy.dtype``: enough to decode numbers."""

    def __init__(self, spec: Any = "f8", align: Any = False, copy: Any = True) -> None:
        text = str(spec)
        self.order = _BYTE_ORDERS.get(text[:1], "<")
        self.kind = text.lstrip("<>=|")

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in _BYTE_ORDERS:
            self.order = _BYTE_ORDERS[state[1]]

    @property
    def code(self) -> str:
        code = _STRUCT_CODES.get(self.kind)
        if code is None:
            raise UnsupportedType(f"arrays of dtype {self.kind!r} are not read; use numbers")
        return code


class _NDArrayType:
    """Stand-in for the class ``numpy.ndarray`` (joblib records an array's class)."""


class _JoblibArrayWrapper:
    """Stand-in for ``joblib.numpy_pickle.NumpyArrayWrapper``: the array's bytes follow it."""

    shape: tuple[int, ...] = ()
    order = "C"
    dtype: Any = None
    numpy_array_alignment_bytes: int | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CorruptInput("malformed joblib array header")
        self.shape = tuple(state.get("shape", ()))
        self.order = str(state.get("order", "C"))
        self.dtype = state.get("dtype")
        self.numpy_array_alignment_bytes = state.get("numpy_array_alignment_bytes")

    def read_from(self, stream: io.BytesIO) -> ArrayValue:
        if not isinstance(self.dtype, _DType):
            raise CorruptInput("malformed joblib array header (no dtype)")
        if self.numpy_array_alignment_bytes is not None:
            padding = stream.read(1)
            stream.read(int.from_bytes(padding or b"\0", "little"))
        size = _count(self.shape) * struct.calcsize(self.dtype.code)
        return _decode(self.dtype, stream.read(size), self.shape, self.order == "F")


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> ArrayValue:
    return ArrayValue()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> ArrayValue:
    return _decode(dtype, _bytes(buffer), tuple(shape), order == "F")


def _scalar(dtype: Any, data: Any) -> Any:
    return _decode(dtype, _bytes(data), (), False).values[0]


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    # protocols 0-2 spell bytes objects as _codecs.encode(text, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CorruptInput("malformed bytes in a protocol 0-2 pickle")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1,
    ("numpy", "dtype"): _DType,
    ("numpy", "ndarray"): _NDArrayType,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _JoblibArrayWrapper,
}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_module}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _frombuffer


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with globals limited to ``_ALLOWED`` and joblib's array bytes."""

    dispatch: ClassVar[dict[int, Callable[..., None]]] = dict(pickle._Unpickler.dispatch)  # type: ignore[misc]

    def __init__(self, stream: io.BytesIO) -> None:
        super().__init__(stream)
        self._stream = stream
        self._size = len(stream.getbuffer())

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise UnsupportedType(
                f"the file refers to {module}.{name}; only NumPy arrays and plain lists "
                "and dicts of numbers are read from joblib/pickle files (no code is run)"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise UnsupportedType("pickles with persistent references are not read")

    def load_build(self) -> None:
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        top = self.stack[-1]  # type: ignore[attr-defined]
        if isinstance(top, _JoblibArrayWrapper):
            # joblib writes the array's raw bytes right after its wrapper
            self.stack[-1] = top.read_from(self._stream)  # type: ignore[attr-defined]

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self) -> None:
        # pickle allocates the declared size before reading: bound it by the file's size
        (size,) = struct.unpack("<Q", self.read(8))  # type: ignore[attr-defined]
        if size > self._size:
            raise CorruptInput("a byte array in the file is longer than the file")
        data = bytearray(size)
        self.readinto(data)  # type: ignore[attr-defined]
        self.append(data)  # type: ignore[attr-defined]

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def load(data: bytes, limit: int, max_values: int = MAX_VALUES) -> Any:
    """The object in a joblib or pickle file, read without running code from it.

    Parameters
    ----------
    data : bytes
        The file's content (possibly compressed, as ``joblib.dump(compress=…)`` writes).
    limit : int
        The most bytes a compressed file may expand to (``TooLarge`` beyond).
    max_values : int
        The most numbers and container items the file may hold (``TooLarge`` beyond).

    Returns
    -------
    object
        Plain Python data; every NumPy array becomes an ``ArrayValue``.

    Examples
    --------
    >>> load(pickle.dumps([[1.0, 2.0], [3.0, 4.0]]), limit=1000)
    [[1.0, 2.0], [3.0, 4.0]]
    >>> load(pickle.dumps(print), limit=1000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chalicelib.errors.UnsupportedType: the file refers to builtins.print; only NumPy arrays ...
    """
    stream = io.BytesIO(_decompressed(data, limit))
    _budget.left = max_values
    try:
        found = _RestrictedUnpickler(stream).load()
        _check_size(found, max_values)
        return found
    except (UnsupportedType, CorruptInput, TooLarge):
        raise
    except (MemoryError, RecursionError) as exc:
        raise TooLarge("the file holds more than this reader may allocate") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise CorruptInput(f"the file is not a readable joblib/pickle file ({exc})") from exc
    except (AttributeError, IndexError, KeyError, OverflowError, struct.error) as exc:
        raise CorruptInput(f"the file is not a readable joblib/pickle file ({exc!r})") from exc


def _decompressed(data: bytes, limit: int) -> bytes:
    """``data`` itself, or its content if joblib compressed it (checked by magic bytes)."""
    decompressor: Any
    if data[:1] == b"\x78" or data[:2] == b"\x1f\x8b":  # zlib, gzip
        decompressor = zlib.decompressobj(wbits=47)  # 32 + 15: either header
    elif data[:3] == b"BZh":
        import bz2

        decompressor = bz2.BZ2Decompressor()
    elif data[:5] == b"\xfd7zXZ" or data[:3] == b"]\x00\x00":
        decompressor = lzma.LZMADecompressor()  # FORMAT_AUTO: .xz or .lzma
    elif data[:4] == b'\x04"M\x18':
        raise UnsupportedType("lz4-compressed joblib files are not read; use zlib, gzip or xz")
    else:
        return data
    try:
        content: bytes = decompressor.decompress(data, limit + 1)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
        raise CorruptInput(f"the compressed file is corrupt ({exc})") from exc
    if len(content) > limit:
        raise TooLarge(f"the file expands to more than {limit} bytes")
    return content


def _array_state(state: Any) -> tuple[Any, tuple[int, ...], _DType, bool, Any]:
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _DType)):
        raise CorruptInput("malformed pickled array")
    version, shape, dtype, fortran, data = state
    return version, tuple(shape), dtype, bool(fortran), data


def _bytes(data: Any) -> bytes:
    if not isinstance(data, bytes | bytearray):  # bytes(an int) would allocate that many
        raise CorruptInput("malformed array data")
    return bytes(data)


def _count(shape: tuple[int, ...]) -> int:
    """The values of an array of ``shape``, taken from this load's budget."""
    left = getattr(_budget, "left", MAX_VALUES)
    if not all(type(n) is int and 0 <= n <= max(left, 1) for n in shape):
        raise CorruptInput(f"malformed or oversized array shape {shape!r}")
    count = math.prod(shape)
    if count > left:
        raise TooLarge(f"the file holds more numbers than the limit ({count} in one array)")
    _budget.left = left - count
    return count


def _check_size(found: Any, max_values: int) -> None:
    """Refuse containers nested deeper than ``MAX_DEPTH`` or holding over ``max_values`` items.

    Iterative (no recursion) and stops as soon as a bound is passed, so a file of
    references that repeat one list many times costs no more than the bound.
    """
    items = 0
    stack = [(found, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise UnsupportedType(f"the file nests lists or dicts deeper than {MAX_DEPTH}")
        items += len(children)
        if items > max_values:
            raise TooLarge(f"the file holds more than {max_values} values (the limit)")
        stack.extend((child, depth + 1) for child in children)


def _decode(dtype: Any, data: bytes, shape: tuple[int, ...], fortran: bool) -> ArrayValue:
    if not isinstance(dtype, _DType):
        raise CorruptInput("malformed array dtype")
    count = _count(shape)
    fmt = f"{dtype.order}{count}{dtype.code}"
    if struct.calcsize(fmt) != len(data):
        raise CorruptInput(f"the array data has {len(data)} bytes; shape {shape} needs more")
    values = list(struct.unpack(fmt, data))
    if fortran and len(shape) == 2:  # column-major: element (r, c) sits at c * rows + r
        rows, columns = shape
        values = [values[c * rows + r] for r in range(rows) for c in range(columns)]
    return ArrayValue(shape, values)

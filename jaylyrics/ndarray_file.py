"""The files `mx.nd.save` writes (checkpoint weights, optimiser moments), read and written with
NumPy: `jaylyrics sample` loads a model without importing MXNet (most of its start-up time), and a
checkpoint is built in memory, hashed and written once by Python, whose file errors (a full disk)
are OSErrors with a reason, where MXNet's writer says only "FileStream.Write incomplete".

The format (MXNet 1.x, src/ndarray/ndarray.cc; all integers little-endian):

    uint64 0x112, uint64 0                          the list's magic number, reserved
    uint64 n, then n arrays, each:
        uint32 0xF993FAC9 (or 0xF993FACA: NumPy shape semantics)
        int32  storage type (0: dense; sparse arrays are not read here)
        int32  ndim, int64 dims[ndim]
        int32  device type, int32 device id        (where the array was; ignored)
        int32  dtype flag (0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64)
        the elements, C order
    uint64 m, then m names, each uint64 length + UTF-8 bytes   (m = 0: saved as a list)

Only what jaylyrics writes is needed, dense arrays; anything else is a ValueError, as is a file
that ends too early or has bytes left over. `dump` writes the bytes `mx.nd.save` writes for
arrays of at least one dimension on the CPU (the tests compare them byte for byte).
"""

from __future__ import annotations

import math
import struct

import numpy as np

_LIST_MAGIC = 0x112
_LEGACY_SHAPES = 0xF993FAC9                     # what mx.nd.save writes outside NumPy mode
_ARRAY_MAGICS = {_LEGACY_SHAPES: "legacy shapes", 0xF993FACA: "NumPy shapes"}
_DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8,
           6: np.int64}


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = memoryview(data), 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise ValueError(f"ends early (at byte {self.at}, {size} more expected)")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values if len(values) > 1 else values[0]

    def elements(self, dtype, shape) -> np.ndarray:
        count = math.prod(shape)                      # Python ints: no overflow
        size = count * np.dtype(dtype).itemsize
        if self.at + size > len(self.data):
            raise ValueError(f"ends early (at byte {self.at}, {size} bytes of data expected)")
        out = np.frombuffer(self.data, dtype=np.dtype(dtype).newbyteorder("<"), count=count,
                            offset=self.at).reshape(shape)
        self.at += size
        return out.astype(dtype)                      # a copy in native order, writable


def load(data: bytes) -> dict[str, np.ndarray] | list[np.ndarray]:
    """The arrays in `data` (the bytes of a file `mx.nd.save` wrote): a dict by name, or a list
    when they were saved without names, like `mx.nd.load`. Raises ValueError if `data` is not
    such a file or holds something other than dense arrays."""
    reader = _Reader(data)
    magic, _reserved = reader.take("<QQ")
    if magic != _LIST_MAGIC:
        raise ValueError(f"not an MXNet array file (magic number {magic:#x}, expected 0x112)")
    arrays = [_array(reader, i) for i in range(reader.take("<Q"))]
    names = []
    for _ in range(reader.take("<Q")):
        length = reader.take("<Q")
        if reader.at + length > len(reader.data):
            raise ValueError("ends early in the names")
        names.append(bytes(reader.data[reader.at:reader.at + length]).decode("utf-8"))
        reader.at += length
    if reader.at != len(reader.data):
        raise ValueError(f"{len(reader.data) - reader.at} bytes left over after the arrays")
    if not names:
        return arrays
    if len(names) != len(arrays):
        raise ValueError(f"{len(names)} names for {len(arrays)} arrays")
    return dict(zip(names, arrays))


def dump(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of a file holding `arrays` by name, as `mx.nd.save(path, arrays)` writes them
    from the CPU (legacy shape headers; the device recorded is the CPU whatever the array's)."""
    flags = {np.dtype(dtype): flag for flag, dtype in _DTYPES.items()}
    parts = [struct.pack("<QQQ", _LIST_MAGIC, 0, len(arrays))]
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.ndim == 0 or array.dtype not in flags:
            raise ValueError(f"{name}: a {array.ndim}-d {array.dtype} array is not written here")
        parts.append(struct.pack(f"<Iii{array.ndim}qiii", _LEGACY_SHAPES, 0, array.ndim,
                                 *array.shape, 1, 0, flags[array.dtype]))
        parts.append(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    parts.append(struct.pack("<Q", len(arrays)))
    for name in arrays:
        encoded = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(encoded)) + encoded)
    return b"".join(parts)


def _array(reader: _Reader, i: int) -> np.ndarray:
    magic = reader.take("<I")
    if magic not in _ARRAY_MAGICS:
        raise ValueError(f"array {i}: unknown array header {magic:#x}")
    storage = reader.take("<i")
    if storage != 0:
        raise ValueError(f"array {i}: sparse storage (type {storage}) is not read here")
    ndim = reader.take("<i")
    if ndim <= 0 and not (ndim == 0 and _ARRAY_MAGICS[magic] == "NumPy shapes"):
        raise ValueError(f"array {i}: no shape (ndim {ndim})")
    shape = tuple(reader.take(f"<{ndim}q")) if ndim > 1 else \
        ((reader.take("<q"),) if ndim == 1 else ())
    if any(d < 0 for d in shape):
        raise ValueError(f"array {i}: unknown dimension in shape {shape}")
    _device_type, _device_id, flag = reader.take("<iii")
    if flag not in _DTYPES:
        raise ValueError(f"array {i}: dtype flag {flag} is not read here")
    return reader.elements(_DTYPES[flag], shape)

"""The byte format of recommender checkpoints: small, exact, and safe to read back.

Checkpoints are stored in the cluster (base64 in a custom resource or ConfigMap, a few KiB
each), so the format is chosen for size and for safety rather than generality:

    magic  b"TTRC"                       4 bytes
    format version                       uint16, little-endian
    header length                        uint32, little-endian
    header                               UTF-8 JSON: kind, metadata, and each array's
                                         name, dtype and shape, in payload order
    payload                              the arrays' raw little-endian bytes, back to back
    CRC-32 of all the bytes above        uint32, little-endian

Floats are stored as their raw IEEE bytes (and JSON metadata floats in their shortest
round-tripping text), so a restored state equals the saved one bit for bit. Nothing is
unpickled: only a short list of plain dtypes is accepted. ``numpy.savez`` was the alternative;
it adds a zip directory and a header per array (hundreds of bytes, more than a small
container's whole histogram) and needs ``allow_pickle=False`` discipline on every read.

Histogram weights are mostly zero (a container's usage touches a few dozen of 176 buckets), so
they are stored sparsely by ``sparse_rows``: per row the count of non-zero buckets, then the
bucket indices and their weights. A typical container costs about 40 bytes of per-row fields
plus 10 bytes per non-zero bucket instead of 1,408 bytes dense.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from trimtab.recommender.arrays import FloatArray, IntArray

MAGIC = b"TTRC"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")
_CRC = struct.Struct("<I")
_DTYPES = frozenset({"<f8", "<f4", "<i8", "<u4", "<u2", "|u1", "|b1"})


class CheckpointError(ValueError):
    """Bytes that are not a checkpoint of the expected kind (truncated, corrupt or foreign)."""


def pack(kind: str, meta: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """Serialise ``arrays`` (converted to little-endian) and JSON-able ``meta`` under ``kind``."""
    little = {
        name: np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")) for name, a in arrays.items()
    }
    specs = [[name, a.dtype.str, list(a.shape)] for name, a in little.items()]
    for _, dtype, _ in specs:
        if dtype not in _DTYPES:
            raise TypeError(f"dtype {dtype} is not allowed in a checkpoint")
    header = json.dumps({"kind": kind, "meta": dict(meta), "arrays": specs}).encode()
    body = b"".join(
        [_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)), header]
        + [a.tobytes() for a in little.values()]
    )
    return body + _CRC.pack(zlib.crc32(body))


def unpack(data: bytes, kind: str) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Read back what ``pack`` wrote for ``kind``: (meta, arrays); arrays are fresh copies."""
    if len(data) < _PREFIX.size + _CRC.size:
        raise CheckpointError("checkpoint is truncated")
    body, (crc,) = data[: -_CRC.size], _CRC.unpack(data[-_CRC.size :])
    if zlib.crc32(body) != crc:
        raise CheckpointError("checkpoint is corrupt (CRC mismatch)")
    magic, version, header_length = _PREFIX.unpack_from(body)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise CheckpointError(f"not a version-{FORMAT_VERSION} recommender checkpoint")
    offset = _PREFIX.size + header_length
    header = json.loads(body[_PREFIX.size : offset])
    if header.get("kind") != kind:
        raise CheckpointError(f"checkpoint holds {header.get('kind')!r}, expected {kind!r}")
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, dtype, shape in header["arrays"]:
        if dtype not in _DTYPES:
            raise CheckpointError(f"dtype {dtype} is not allowed in a checkpoint")
        count = int(np.prod(shape, dtype=np.int64))
        size = count * np.dtype(dtype).itemsize
        if offset + size > len(body):
            raise CheckpointError("checkpoint is truncated")
        chunk = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
        arrays[name] = chunk.reshape(shape).astype(np.dtype(dtype).newbyteorder("="))
        offset += size
    if offset != len(body):
        raise CheckpointError("checkpoint has trailing bytes")
    return header["meta"], arrays


def sparse_rows(matrix: FloatArray) -> dict[str, npt.NDArray[Any]]:
    """A (rows, columns) matrix as per-row non-zero counts, column indices and values."""
    rows, columns = np.nonzero(matrix)
    index_type = np.uint16 if matrix.shape[1] <= np.iinfo(np.uint16).max else np.uint32
    counts = np.bincount(rows, minlength=matrix.shape[0]).astype(index_type)
    return {"nonzero": counts, "column": columns.astype(index_type), "value": matrix[rows, columns]}


def dense_rows(arrays: Mapping[str, npt.NDArray[Any]], shape: tuple[int, int]) -> npt.NDArray[Any]:
    """Inverse of ``sparse_rows``."""
    counts: IntArray = arrays["nonzero"].astype(np.int64)
    if counts.size != shape[0] or int(counts.sum()) != arrays["column"].size:
        raise CheckpointError("sparse rows do not match their shape")
    rows = np.repeat(np.arange(shape[0]), counts)
    columns = arrays["column"].astype(np.int64)
    if columns.size and int(columns.max()) >= shape[1]:
        raise CheckpointError("sparse column index out of range")
    matrix: npt.NDArray[Any] = np.zeros(shape, dtype=arrays["value"].dtype)
    matrix[rows, columns] = arrays["value"]
    return matrix

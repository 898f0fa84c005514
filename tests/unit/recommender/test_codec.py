"""The checkpoint byte format: exact, self-describing, and strict about what it reads."""

from __future__ import annotations

import numpy as np
import pytest

from trimtab.recommender import codec


def test_round_trip_keeps_dtypes_shapes_and_bits() -> None:
    arrays = {
        "f": np.array([[1.5, np.nan], [-0.0, 1e-310]]),
        "i": np.arange(5, dtype=np.int64),
        "s": np.ones(3, dtype=np.float32) / 3,
    }
    meta, back = codec.unpack(codec.pack("thing", {"x": 0.1}, arrays), "thing")
    assert meta == {"x": 0.1}
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        assert back[name].tobytes() == array.tobytes()


def test_wrong_kind_truncation_and_bad_dtype_are_refused() -> None:
    data = codec.pack("thing", {}, {"a": np.zeros(3)})
    with pytest.raises(codec.CheckpointError, match="expected 'other'"):
        codec.unpack(data, "other")
    with pytest.raises(codec.CheckpointError):
        codec.unpack(data[:-5], "thing")
    with pytest.raises(TypeError):
        codec.pack("thing", {}, {"a": np.array(["text"])})


def test_sparse_rows_round_trip() -> None:
    matrix = np.zeros((3, 200))
    matrix[0, [1, 199]] = [0.5, 2.0]
    matrix[2, 0] = 1e300
    sparse = codec.sparse_rows(matrix)
    assert sparse["nonzero"].tolist() == [2, 0, 1]
    np.testing.assert_array_equal(codec.dense_rows(sparse, matrix.shape), matrix)

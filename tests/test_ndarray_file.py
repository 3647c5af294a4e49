"""ndarray_file.load and dump against MXNet's own writer (mx.nd.save) and reader (mx.nd.load)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaylyrics import ndarray_file


def _saved(tmp_path, arrays):
    from jaylyrics.backend import mx

    path = tmp_path / "a.params"
    mx.nd.save(str(path), arrays)
    return path.read_bytes()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int32", "int8",
                                   "int64"])
def test_reads_what_mxnet_writes_in_every_dtype_and_shape(tmp_path, dtype):
    from jaylyrics.backend import nd

    rng = np.random.RandomState(0)
    arrays = {f"w{len(shape)}": (rng.standard_normal(shape) * 50).astype(dtype)
              for shape in [(5,), (3, 4), (2, 3, 4), (1, 1, 1, 7)]}
    arrays["名字.b_h"] = np.array([1, 2, 3], dtype=dtype)            # non-ASCII names too
    data = _saved(tmp_path, {k: nd.array(v, dtype=dtype) for k, v in arrays.items()})
    got = ndarray_file.load(data)
    assert list(got) == list(nd.load_frombuffer(data))                 # names, in MXNet's order
    for name, want in arrays.items():
        assert got[name].dtype == np.dtype(dtype) and got[name].shape == want.shape
        assert np.array_equal(got[name], want)
        assert got[name].flags.writeable


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int32", "int8",
                                   "int64"])
def test_dump_writes_the_bytes_mxnet_writes(tmp_path, dtype):
    from jaylyrics.backend import nd

    rng = np.random.RandomState(1)
    arrays = {f"w{len(shape)}": (rng.standard_normal(shape) * 50).astype(dtype)
              for shape in [(5,), (3, 4), (2, 3, 4), (1, 1, 1, 7), (2, 0)]}
    arrays["名字.b_h"] = np.array([1, 2, 3], dtype=dtype)
    arrays["strided"] = np.arange(12, dtype=dtype).reshape(3, 4).T        # not C-contiguous
    data = ndarray_file.dump(arrays)
    assert data == _saved(tmp_path, {k: nd.array(v, dtype=dtype) for k, v in arrays.items()})
    loaded = nd.load_frombuffer(data)
    assert all(np.array_equal(loaded[k].asnumpy(), v) for k, v in arrays.items())
    assert ndarray_file.dump({}) == _saved(tmp_path, {})
    with pytest.raises(ValueError, match="a 0-d float64 array is not written here"):
        ndarray_file.dump({"scalar": np.float64(1.0)})


def test_a_list_is_read_as_a_list_and_an_empty_dict_as_a_list(tmp_path):
    from jaylyrics.backend import nd

    got = ndarray_file.load(_saved(tmp_path, [nd.array([1.5, 2.5]), nd.ones((2, 2))]))
    assert isinstance(got, list) and [a.tolist() for a in got] == [[1.5, 2.5], [[1, 1], [1, 1]]]
    assert ndarray_file.load(_saved(tmp_path, {})) == []                # as mx.nd.load gives


def test_a_checkpoint_of_a_trained_run_reads_as_mxnet_reads_it(tiny_run):
    from jaylyrics.backend import nd

    files = sorted((tiny_run / "runs" / "tiny").glob("*.params"))
    assert {f.name.split("-")[0] for f in files} == {"weights", "optimizer"}
    for path in files:                            # the weights and the optimiser's moments
        data = path.read_bytes()
        got, want = ndarray_file.load(data), nd.load_frombuffer(data)
        assert set(got) == set(want) and len(got) >= 5
        for name in want:
            assert np.array_equal(got[name], want[name].asnumpy())


def test_damaged_files_are_value_errors(tmp_path):
    from jaylyrics.backend import nd

    data = _saved(tmp_path, {"w": nd.ones((3, 4)), "b": nd.zeros((4,))})
    for cut in (0, 7, 20, 40, 60, len(data) - 1):                        # truncated anywhere
        with pytest.raises(ValueError):
            ndarray_file.load(data[:cut])
    with pytest.raises(ValueError, match="left over"):
        ndarray_file.load(data + b"\0")
    with pytest.raises(ValueError, match="not an MXNet array file"):
        ndarray_file.load(b"PK\x03\x04" + data[4:])
    with pytest.raises(ValueError, match="unknown array header"):
        ndarray_file.load(data[:24] + b"\0\0\0\0" + data[28:])
    sparse = _saved(tmp_path, {"w": nd.ones((3, 4)).tostype("csr")})
    with pytest.raises(ValueError, match="sparse"):
        ndarray_file.load(sparse)


_GOOD = None


def _good_file() -> bytes:
    """A small file as MXNet writes it: two named float32 arrays."""
    global _GOOD
    if _GOOD is None:
        import tempfile
        from pathlib import Path

        from jaylyrics.backend import nd
        with tempfile.TemporaryDirectory() as tmp:
            _GOOD = _saved(Path(tmp), {"w": nd.ones((3, 4)), "b": nd.arange(4)})
    return _GOOD


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
       st.integers(0, 200))
def test_any_damage_is_a_value_error_or_a_file_of_arrays(edits, cut):
    """Bytes changed anywhere (a shape, a count, a dtype flag, a name length ...) and the file
    cut anywhere: `load` returns arrays or raises ValueError, never another error, and never
    trusts a size the bytes are not there for."""
    data = bytearray(_good_file())
    for at, value in edits:
        data[at % len(data)] = value
    data = bytes(data[:len(data) - cut % len(data)] if cut else data)
    try:
        got = ndarray_file.load(data)
    except ValueError:
        return
    arrays = got.values() if isinstance(got, dict) else got
    assert all(isinstance(a, np.ndarray) for a in arrays)
    assert sum(a.nbytes for a in arrays) <= len(data)

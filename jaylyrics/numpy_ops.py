"""The few MXNet operators that the model's equations use, as NumPy functions with MXNet's
signatures, so that `model._hidden` and `model._project` run unchanged on NumPy arrays
(`model.decoder`).

Why: generating text feeds the network one character at a time with batch 1. There the cost is
not arithmetic but MXNet's fixed cost per operator and per host synchronisation (tens of
microseconds each, a few dozen operators per character), which NumPy does not have. Inference
only: `Dropout` is the identity, as MXNet's is outside training, and there are no gradients.
"""

from __future__ import annotations

import numpy as np


def FullyConnected(data, weight, bias=None, num_hidden=None, no_bias=False, flatten=True):
    """Without flatten, over the last axis: as one product of a matrix of all the leading
    positions (NumPy's matmul of a (T, N, E) array makes T products, 3x slower for eval's
    chunks), the bias added in place."""
    if flatten:
        data = data.reshape(data.shape[0], -1)
    out = data.reshape(-1, data.shape[-1]) @ weight.T
    if not no_bias and bias is not None:
        out += bias
    return out.reshape(*data.shape[:-1], out.shape[-1])


def Embedding(data, weight, input_dim=None, output_dim=None):
    return weight[data.astype(np.int64)]


def Activation(data, act_type):
    if act_type == "tanh":
        return np.tanh(data)
    if act_type == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * data))       # = 1 / (1 + exp(-x)), without overflow
    raise ValueError(f"unsupported activation {act_type!r}")


def Dropout(data, p=0.5, axes=()):
    return data


def split(data, num_outputs, axis=1, squeeze_axis=False):
    """Views of `data` cut into equal parts along `axis`, by indexing: np.split costs about
    14 microseconds a call, a third of a GRU step with batch 1 (two splits a step)."""
    size, rest = divmod(data.shape[axis], num_outputs)
    if rest:
        raise ValueError(f"cannot split {data.shape[axis]} into {num_outputs} equal parts")
    if squeeze_axis and size != 1:
        raise ValueError(f"squeeze_axis needs parts of size 1, not {size}")
    before = (slice(None),) * (axis % data.ndim)
    if squeeze_axis:
        return [data[before + (i,)] for i in range(num_outputs)]
    return [data[before + (slice(i * size, (i + 1) * size),)] for i in range(num_outputs)]


def reshape(data, shape):
    """MXNet's reshape: 0 keeps the input's size on that axis, -1 is inferred."""
    return data.reshape(tuple(data.shape[i] if s == 0 else s for i, s in enumerate(shape)))


def transpose(data, axes=None):
    return np.transpose(data, axes)


def squeeze(data, axis=None):
    return np.squeeze(data, axis)


def stack(*data, axis=0):
    return np.stack(data, axis)


def concat(*data, dim=1):
    return np.concatenate(data, dim)


def zeros_like(data):
    return np.zeros_like(data)


def broadcast_add(lhs, rhs):
    return lhs + rhs


def log_softmax(data):
    """Along the last axis, in float64 (the probabilities that scoring and ensembles use)."""
    z = data.astype(np.float64)
    top = z.max(axis=-1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=-1, keepdims=True))

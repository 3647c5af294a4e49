"""The model: parameters, state, and the forward pass of a character-level recurrent network,
as pure functions on MXNet NDArrays. No I/O, no training loop, nothing remembered in objects.

Shapes: N batch size, T time steps, V vocabulary size, E embedding size, H hidden size,
G gates per cell (rnn 1, gru 3, lstm 4), L layers.

The equations (row vectors, as in the tutorial; X_t is the one-hot input or the embedding):

    rnn   H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)
    gru   [r, z] = sigmoid(X_t W_xh[r,z] + H_{t-1} W_hh[r,z] + b_h[r,z])
          n = tanh(X_t W_xh[n] + b_h[n] + r * (H_{t-1} W_hh[n] + b_hn))
          H_t = (1 - z) * n + z * H_{t-1}
    lstm  [i, f, g, o] = X_t W_xh + H_{t-1} W_hh + b_h;  i, f, o sigmoid, g tanh
          C_t = f * C_{t-1} + i * g;  H_t = o * tanh(C_t)
    out   Y_t = H_t W_hq + b_q          (with model.tie_weights, W_hq is embed transposed)

The gate blocks sit side by side in the columns of W_xh, W_hh and b_h, in MXNet's (and cuDNN's)
order, and the GRU applies its reset gate after the recurrent product (with its own bias b_hn),
as cuDNN does; so the fused `gluon.rnn` layers are an exact reference (see the tests).

Speed (measured by benchmarks/throughput.py): the input projection of a one-hot X_t is a row
gather of W_xh, done for all T steps at once; products use `FullyConnected` (oneDNN) rather than
`dot` (a slow generic OpenBLAS kernel here), non-linearities `Activation`; the output projection
is one product over all T*N states.
"""

from __future__ import annotations

import numpy as np

from jaylyrics.backend import nd

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def param_shapes(model_cfg, vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter. The names are the checkpoint keys."""
    V, H, E, G = vocab_size, model_cfg.hidden_size, model_cfg.embed_size, GATES[model_cfg.type]
    shapes: dict[str, tuple[int, ...]] = {}
    if E:
        shapes["embed"] = (V, E)
    width = E or V
    for layer in range(model_cfg.num_layers):
        shapes[f"l{layer}.W_xh"] = (width, G * H)
        shapes[f"l{layer}.W_hh"] = (H, G * H)
        shapes[f"l{layer}.b_h"] = (G * H,)
        if model_cfg.type == "gru":
            shapes[f"l{layer}.b_hn"] = (H,)
        width = H
    if not model_cfg.tie_weights:
        shapes["W_hq"] = (H, V)
    shapes["b_q"] = (V,)
    return shapes


def init_params(model_cfg, vocab_size: int, ctx, seed: int) -> dict:
    """Weights ~ N(0, init_std), biases 0, drawn from NumPy with `seed` (the same on any device).
    Every parameter has a gradient buffer attached."""
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in param_shapes(model_cfg, vocab_size).items():
        if len(shape) == 1:
            value = np.zeros(shape, dtype=np.float32)
        else:
            value = rng.normal(0.0, model_cfg.init_std, size=shape).astype(np.float32)
        params[name] = nd.array(value, ctx=ctx)
        params[name].attach_grad()
    return params


def num_params(params: dict) -> int:
    return int(sum(np.prod(p.shape) for p in params.values()))


def begin_state(model_cfg, batch_size: int, ctx) -> tuple:
    """The zero state: (H,) for rnn and gru, (H, C) for lstm, each (L, N, H)."""
    shape = (model_cfg.num_layers, batch_size, model_cfg.hidden_size)
    count = 2 if model_cfg.type == "lstm" else 1
    return tuple(nd.zeros(shape, ctx=ctx) for _ in range(count))


def detach(state: tuple) -> tuple:
    """The same state cut from the graph, so backpropagation stops at the batch boundary.
    (NDArray.detach returns a new array; the tutorial discards it.)"""
    return tuple(s.detach() for s in state)


def for_inference(params: dict) -> dict:
    """The same parameters plus, computed once, the transposes (and the GRU's padded recurrent
    bias) that each forward call would otherwise recompute: for evaluation and sampling, where
    the same weights serve thousands of short calls. Not for training (no gradients flow)."""
    out = dict(params)
    for name, p in params.items():
        if len(p.shape) == 2 and name != "embed":
            out[name + "^T"] = p.T.copy()
        if name.endswith(".b_hn"):
            out[name[:-2] + "hh"] = _padded_b_hh(p)
    return out


def _t(params: dict, name: str):
    """A weight in FullyConnected's (out, in) layout."""
    return params[name + "^T"] if name + "^T" in params else params[name].T


def _padded_b_hh(b_hn):
    H = b_hn.shape[0]
    return nd.concat(nd.zeros((2 * H,), ctx=b_hn.context, dtype=b_hn.dtype), b_hn, dim=0)


def forward(params: dict, X, state: tuple, model_cfg, one_hot: bool = False):
    """X (N, T) character ids -> logits (T*N, V) in time-major row order, and the new state."""
    hidden_states, state = hidden(params, X, state, model_cfg, one_hot)
    return project(params, hidden_states), state


def hidden(params: dict, X, state: tuple, model_cfg, one_hot: bool = False):
    """X (N, T) ids -> the top layer's states (T*N, H), time-major, and the new state."""
    V = params["b_q"].shape[0]
    kind, H, p = model_cfg.type, model_cfg.hidden_size, model_cfg.dropout
    ids = X.T                                                            # (T, N)
    if "embed" in params:
        layer_in = _dropout(nd.Embedding(ids, params["embed"], input_dim=V,
                                         output_dim=model_cfg.embed_size), p)   # (T, N, E)
    else:
        layer_in = None
    finals = []
    for layer in range(model_cfg.num_layers):
        W_xh, b_h = params[f"l{layer}.W_xh"], params[f"l{layer}.b_h"]
        GH = W_xh.shape[1]
        if layer_in is None and one_hot:
            # The tutorial's input: one-hot vectors times W_xh.
            xw = nd.FullyConnected(nd.one_hot(ids, V), _t(params, f"l{layer}.W_xh"), b_h,
                                   num_hidden=GH, flatten=False)
        elif layer_in is None:
            # The same numbers, without the one-hot matrix: row i of W_xh is one_hot(i) W_xh.
            xw = nd.broadcast_add(nd.Embedding(ids, W_xh, input_dim=V, output_dim=GH),
                                  b_h.reshape((1, 1, GH)))                             # (T, N, GH)
        else:
            xw = nd.FullyConnected(layer_in, _t(params, f"l{layer}.W_xh"), b_h, num_hidden=GH,
                                   flatten=False)                                   # (T, N, GH)
        layer_state = tuple(s[layer] for s in state)
        b_hh = None
        if kind == "gru":        # the reset gate multiplies (H W_hh[n] + b_hn): pad b_hn to GH
            key = f"l{layer}.b_hh"
            b_hh = params[key] if key in params else _padded_b_hh(params[f"l{layer}.b_hn"])
        outputs, layer_state = _recurrence(CELLS[kind], xw, layer_state,
                                           _t(params, f"l{layer}.W_hh"), b_hh)
        finals.append(layer_state)
        layer_in = _dropout(outputs, p).reshape((xw.shape[0], xw.shape[1], H))       # (T, N, H)
    new_state = tuple(nd.stack(*parts, axis=0) for parts in zip(*finals))          # (L, N, H)
    return layer_in.reshape((-1, H)), new_state                                    # (T*N, H)


def project(params: dict, hidden_states):
    """States (M, H) -> logits (M, V)."""
    V = params["b_q"].shape[0]
    # Tied weights: the output layer reuses the input embedding (V, H), which is already in
    # FullyConnected's (out, in) layout.
    W = params["embed"] if "W_hq" not in params else _t(params, "W_hq")
    return nd.FullyConnected(hidden_states, W, params["b_q"], num_hidden=V)


def nll(logits, Y):
    """Per-character negative log-likelihood (T*N,) of targets Y (N, T) under logits (T*N, V)."""
    return loss(logits, Y)[1]


def loss(logits, Y, smoothing: float = 0.0):
    """(training loss, negative log-likelihood), each per character (T*N,), for targets Y (N, T).

    With label smoothing the target is (1 - s) one-hot + s uniform, so every character, even one
    never seen in training, keeps some probability."""
    labels = Y.T.reshape((-1,))                                  # time-major, like the logits
    logp = nd.log_softmax(logits)
    nll = -nd.pick(logp, labels)
    if not smoothing:
        return nll, nll
    return (1 - smoothing) * nll - smoothing * nd.mean(logp, axis=1), nll


def _dropout(x, p: float):
    return nd.Dropout(x, p=p) if p > 0 else x


def _recurrence(cell, xw, state: tuple, W, b_hh):
    """Run one layer over time. xw (T, N, GH) is the input projection with its bias, W is W_hh
    transposed (GH, H); returns the states (T*N, H) and the final state."""
    T, GH = xw.shape[0], xw.shape[2]
    steps = nd.split(xw, num_outputs=T, axis=0, squeeze_axis=True) if T > 1 else [xw[0]]
    outputs = []
    for xw_t in steps:                                                       # (N, GH)
        if b_hh is None:
            hw_t = nd.FullyConnected(state[0], W, no_bias=True, num_hidden=GH)
        else:
            hw_t = nd.FullyConnected(state[0], W, b_hh, num_hidden=GH)
        state = cell(xw_t, hw_t, state)
        outputs.append(state[0])
    return nd.concat(*outputs, dim=0), state                                 # (T*N, H)


def rnn_cell(xw_t, hw_t, state):
    h = nd.Activation(xw_t + hw_t, act_type="tanh")
    return (h,)


def gru_cell(xw_t, hw_t, state):
    (h,) = state
    H = h.shape[1]
    rz = nd.Activation(nd.slice_axis(xw_t, axis=1, begin=0, end=2 * H)
                       + nd.slice_axis(hw_t, axis=1, begin=0, end=2 * H), act_type="sigmoid")
    r, z = nd.split(rz, num_outputs=2, axis=1)
    n = nd.Activation(nd.slice_axis(xw_t, axis=1, begin=2 * H, end=3 * H)
                      + r * nd.slice_axis(hw_t, axis=1, begin=2 * H, end=3 * H), act_type="tanh")
    return (n + z * (h - n),)                   # (1 - z) * n + z * h


def lstm_cell(xw_t, hw_t, state):
    h, c = state
    i, f, g, o = nd.split(xw_t + hw_t, num_outputs=4, axis=1)
    c = nd.Activation(f, act_type="sigmoid") * c \
        + nd.Activation(i, act_type="sigmoid") * nd.Activation(g, act_type="tanh")
    h = nd.Activation(o, act_type="sigmoid") * nd.Activation(c, act_type="tanh")
    return (h, c)


CELLS = {"rnn": rnn_cell, "gru": gru_cell, "lstm": lstm_cell}

"""The model: parameters, state, and the forward pass of a character-level recurrent network,
as pure functions on MXNet NDArrays. No I/O, no training loop, nothing remembered in objects.

Shapes: N batch size, T time steps, V vocabulary size, E embedding size, H hidden size,
G gates per cell (rnn 1, gru 3, lstm 4), L layers.

The equations (row vectors, as in the tutorial; X_t is the one-hot input or the embedding):

    rnn   H_t = tanh(X_t W_xh' + H_{t-1} W_hh' + b_h)
    gru   [r, z] = sigmoid(X_t W_xh[r,z]' + H_{t-1} W_hh[r,z]' + b_h[r,z])
          n = tanh(X_t W_xh[n]' + b_h[n] + r * (H_{t-1} W_hh[n]' + b_hn))
          H_t = (1 - z) * n + z * H_{t-1}
    lstm  [i, f, g, o] = X_t W_xh' + H_{t-1} W_hh' + b_h;  i, f, o sigmoid, g tanh
          C_t = f * C_{t-1} + i * g;  H_t = o * tanh(C_t)
    out   Y_t = H_t W_hq' + b_q         (with model.tie_weights, W_hq is the embedding)

In training (only: MXNet's Dropout passes its input through outside autograd's training mode),
`model.dropout` drops entries of the embedding, of the states between layers and before the
output, `model.weight_drop` drops entries of each W_hh: one mask for the whole batch, so all
T steps use the same thinned weights (DropConnect, as in AWD-LSTM), and `model.embed_drop` drops
whole characters from the input embedding for a batch (AWD-LSTM's embedding dropout; with tied
weights the output layer keeps them).

' is the transpose: a weight is stored as (out, in), one row per output unit, as `gluon` and
`FullyConnected` store it (the tutorial stores (in, out); checkpoint format 1 did too). The gate
blocks sit one below the other in the rows of W_xh and W_hh (and side by side in b_h) in MXNet's
(and cuDNN's) order, and the GRU applies its reset gate after the recurrent product (with its
own bias b_hn), as cuDNN does; so the fused `gluon.rnn` layers are an exact reference (see the
tests).

Speed (measured by benchmarks/throughput.py): the input projection of a one-hot X_t is a gather
of W_xh's columns, done for all T steps at once; products use `FullyConnected` (oneDNN) rather
than `dot` (a slow generic OpenBLAS kernel on Intel CPUs here; as fast on an AMD EPYC), which
takes weights as (out, in) as stored, so no weight is transposed in a step; non-linearities
`Activation`; the output projection is one product over all T*N states. The equations are
written once against `F`: with `mxnet.nd` they run op by op (`forward`, the readable reference
the tests check), with `mxnet.sym` the same code builds one graph per shape (`compiled`), which
training and evaluation use; sampling runs the same code on NumPy arrays (`decoder`,
`numpy_ops`). MXNet is imported by the functions that use it, so that sampling from a
checkpoint needs no MXNet (its import is most of a `jaylyrics sample`'s start-up).
"""

from __future__ import annotations

import numpy as np

GATES = {"rnn": 1, "gru": 3, "lstm": 4}

# The weights that checkpoint format 1 stored as (in, out). Names end with one of these.
TRANSPOSED_SINCE_FORMAT_2 = (".W_xh", ".W_hh", "W_hq")


def param_shapes(model_cfg, vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter. The names are the checkpoint keys."""
    V, H, E, G = vocab_size, model_cfg.hidden_size, model_cfg.embed_size, GATES[model_cfg.type]
    shapes: dict[str, tuple[int, ...]] = {}
    if E:
        shapes["embed"] = (V, E)
    width = E or V
    for layer in range(model_cfg.num_layers):
        shapes[f"l{layer}.W_xh"] = (G * H, width)
        shapes[f"l{layer}.W_hh"] = (G * H, H)
        shapes[f"l{layer}.b_h"] = (G * H,)
        if model_cfg.type == "gru":
            shapes[f"l{layer}.b_hn"] = (H,)
        width = H
    if not model_cfg.tie_weights:
        shapes["W_hq"] = (V, H)
    shapes["b_q"] = (V,)
    return shapes


def count_params(model_cfg, vocab_size: int) -> int:
    """How many numbers `param_shapes` holds, counted without listing them (a config may ask
    for more layers than a dict could hold: the count is what refuses it)."""
    V, H, E, G = vocab_size, model_cfg.hidden_size, model_cfg.embed_size, GATES[model_cfg.type]
    per_layer = G * H * H + G * H + (H if model_cfg.type == "gru" else 0)       # W_hh, b_h, b_hn
    inputs = G * H * ((E or V) + H * (model_cfg.num_layers - 1))        # every layer's W_xh
    output = V * H * (not model_cfg.tie_weights) + V                     # W_hq, b_q
    return V * E + model_cfg.num_layers * per_layer + inputs + output


def init_params(model_cfg, vocab_size: int, ctx, seed: int) -> dict:
    """Weights ~ N(0, init_std), biases 0, drawn from NumPy with `seed` (the same on any device).
    Every parameter has a gradient buffer attached."""
    from jaylyrics.backend import nd

    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in param_shapes(model_cfg, vocab_size).items():
        if len(shape) == 1:
            value = np.zeros(shape, dtype=np.float32)
        elif name.endswith(TRANSPOSED_SINCE_FORMAT_2):
            # drawn as (in, out) and transposed: the same numbers as before the layout changed,
            # so a seed still gives the run it gave with format-1 checkpoints
            value = rng.normal(0.0, model_cfg.init_std, size=shape[::-1]).T.astype(np.float32)
        else:
            value = rng.normal(0.0, model_cfg.init_std, size=shape).astype(np.float32)
        params[name] = nd.array(value, ctx=ctx)
        params[name].attach_grad()
    return params


def num_params(params: dict) -> int:
    return int(sum(np.prod(p.shape) for p in params.values()))


def state_parts(model_cfg) -> int:
    """How many arrays the state has: (H,) for rnn and gru, (H, C) for lstm."""
    return 2 if model_cfg.type == "lstm" else 1


def begin_state(model_cfg, batch_size: int, ctx) -> tuple:
    """The zero state: (H,) for rnn and gru, (H, C) for lstm, each (L, N, H)."""
    from jaylyrics.backend import nd

    shape = (model_cfg.num_layers, batch_size, model_cfg.hidden_size)
    return tuple(nd.zeros(shape, ctx=ctx) for _ in range(state_parts(model_cfg)))


def detach(state: tuple) -> tuple:
    """The same state cut from the graph, so backpropagation stops at the batch boundary.
    (NDArray.detach returns a new array; the tutorial discards it.)"""
    return tuple(s.detach() for s in state)


def forward(params: dict, X, state: tuple, model_cfg, one_hot: bool = False):
    """X (N, T) character ids -> logits (T*N, V) in time-major row order, and the new state."""
    hidden_states, state = hidden(params, X, state, model_cfg, one_hot)
    return project(params, hidden_states), state


def hidden(params: dict, X, state: tuple, model_cfg, one_hot: bool = False):
    """X (N, T) ids -> the top layer's states (T*N, H), time-major, and the new state."""
    from jaylyrics.backend import nd

    N, T = X.shape
    return _hidden(nd, params, X, state, model_cfg, (N, T, params["b_q"].shape[0]), one_hot)


def project(params: dict, hidden_states):
    """States (M, H) -> logits (M, V)."""
    from jaylyrics.backend import nd

    return _project(nd, params, hidden_states, params["b_q"].shape[0])


def nll(logits, Y):
    """Per-character negative log-likelihood (T*N,) of targets Y (N, T) under logits (T*N, V)."""
    return loss(logits, Y)[1]


def loss(logits, Y, smoothing: float = 0.0):
    """(training loss, negative log-likelihood), each per character (T*N,), for targets Y (N, T).

    With label smoothing the target is (1 - s) one-hot + s uniform, so every character, even one
    never seen in training, keeps some probability."""
    from jaylyrics.backend import nd

    return _loss(nd, logits, Y, smoothing, logits.shape[1])


def decoder(params: dict, model_cfg):
    """The network as a NumPy function, for generating text: returns run(X, state) -> (logits
    (T*N, V), state) on NumPy arrays, the same equations as `forward` (`_hidden` and `_project`
    with `numpy_ops` as F), and the zero state for batch 1. run(X, state, project=False) skips
    the output layer (logits None), to warm the state up on a prefix. One character at a time
    with batch 1 is all fixed cost in MXNet (dozens of operators and a host synchronisation per
    character); NumPy does the same arithmetic several times faster there
    (benchmarks/throughput.py). `params` may be NDArrays or NumPy arrays (a checkpoint loaded
    without a device): with NumPy arrays, MXNet is not imported at all."""
    from jaylyrics import numpy_ops

    weights = {name: p if isinstance(p, np.ndarray) else p.asnumpy() for name, p in params.items()}
    V = weights["b_q"].shape[0]

    def run(X, state, project=True):
        N, T = X.shape
        hidden_states, state = _hidden(numpy_ops, weights, X, state, model_cfg, (N, T, V))
        return (_project(numpy_ops, weights, hidden_states, V) if project else None), state

    shape = (model_cfg.num_layers, 1, model_cfg.hidden_size)
    zero = tuple(np.zeros(shape, np.float32) for _ in range(state_parts(model_cfg)))
    return run, zero


_GRAPHS: dict = {}


def compiled(model_cfg, vocab_size: int, batch_size: int, num_steps: int, loss_spec=None):
    """The forward pass (and, with loss_spec = (smoothing, "sum" | "mean"), the loss) as one
    hybridized MXNet graph for a fixed N and T: the same equations as `forward` and `loss`,
    without the Python cost of each small operator (a dozen per cell and time step).

    Returns run(params, X, state, Y=None): (logits, state) without a loss spec, else
    (loss, summed NLL, state). Gradients reach the parameters as with `forward`. Graphs are
    built once per configuration and shape, and kept."""
    # the cell too: a graph holds the cell function of CELLS it was built with
    key = (CELLS[model_cfg.type], tuple(sorted(vars(model_cfg).items())), vocab_size, batch_size,
           num_steps, loss_spec)
    if key not in _GRAPHS:                   # looked up every training step: build only once
        names = tuple(param_shapes(model_cfg, vocab_size))
        _GRAPHS[key] = _build(model_cfg, vocab_size, batch_size, num_steps, loss_spec, names)
    return _GRAPHS[key]


def _build(model_cfg, V, N, T, loss_spec, names):
    from mxnet import gluon

    parts = state_parts(model_cfg)

    class Graph(gluon.HybridBlock):
        def hybrid_forward(self, F, X, *args):
            if loss_spec:
                Y, args = args[0], args[1:]
            state, params = args[:parts], dict(zip(names, args[parts:]))
            h, new_state = _hidden(F, params, X, state, model_cfg, (N, T, V))
            logits = _project(F, params, h, V)
            if not loss_spec:
                return (logits,) + new_state
            smoothing, reduction = loss_spec
            train_losses, nll = _loss(F, logits, Y, smoothing, V)
            loss = F.sum(train_losses) if reduction == "sum" else F.mean(train_losses)
            return (loss, F.sum(nll)) + new_state

    graph = Graph()
    graph.hybridize(static_alloc=True, static_shape=True)

    def run(params, X, state, Y=None):
        inputs = (X,) + ((Y,) if loss_spec else ()) + tuple(state) + tuple(params[n] for n in names)
        out = graph(*inputs)
        if not loss_spec:
            return out[0], tuple(out[1:])
        return out[0], out[1], tuple(out[2:])
    return run


# The equations, written once against F: `mxnet.nd` runs them op by op (the functions above),
# `mxnet.sym` builds a graph of the same ops (`compiled` above), and `numpy_ops` runs them on
# NumPy arrays (`decoder` above, for sampling). Sizes come in as Python ints (dims = N, T, V)
# because a symbol has no shape.

def _hidden(F, params, X, state, model_cfg, dims, one_hot=False):
    N, T, V = dims
    kind, H, L, p = model_cfg.type, model_cfg.hidden_size, model_cfg.num_layers, model_cfg.dropout
    GH = GATES[kind] * H
    ids = F.transpose(X)                                                           # (T, N)
    layer_in = None
    if "embed" in params:
        table = _dropout(F, params["embed"], model_cfg.embed_drop, axes=(1,))     # whole rows
        layer_in = _dropout(F, F.Embedding(ids, table, input_dim=V,
                                           output_dim=model_cfg.embed_size), p)   # (T, N, E)
    per_layer = [_split(F, s, L, axis=0) for s in state]              # L x (N, H) per state part
    finals = []
    for layer in range(L):
        b_h, W_xh = params[f"l{layer}.b_h"], params[f"l{layer}.W_xh"]
        if layer_in is not None:
            xw = F.FullyConnected(layer_in, W_xh, b_h, num_hidden=GH, flatten=False)
        else:                         # one-hot input: column i of W_xh is character i's embedding
            W_xh = _dropout(F, W_xh, model_cfg.embed_drop, axes=(0,))          # whole columns
            if one_hot:               # the tutorial's input: one-hot vectors times W_xh
                xw = F.FullyConnected(F.one_hot(ids, V), W_xh, b_h, num_hidden=GH, flatten=False)
            else:                     # the same numbers, without the one-hot matrix
                xw = F.broadcast_add(F.Embedding(ids, F.transpose(W_xh), input_dim=V,
                                                 output_dim=GH),
                                     F.reshape(b_h, shape=(1, 1, GH)))
        b_hh = None                                                                # xw: (T, N, GH)
        if kind == "gru":        # the reset gate multiplies (H W_hh[n] + b_hn): pad b_hn to GH
            b_hn = params[f"l{layer}.b_hn"]
            b_hh = F.concat(F.zeros_like(b_hn), F.zeros_like(b_hn), b_hn, dim=0)
        layer_state = tuple(parts[layer] for parts in per_layer)
        W_hh = _dropout(F, params[f"l{layer}.W_hh"], model_cfg.weight_drop)     # (GH, H)
        outputs, layer_state = _recurrence(F, CELLS[kind], xw, layer_state, W_hh, b_hh, T, GH, H)
        finals.append(layer_state)
        layer_in = F.reshape(_dropout(F, outputs, p), shape=(T, N, H))              # (T, N, H)
    new_state = tuple(F.stack(*parts, axis=0) for parts in zip(*finals))          # (L, N, H)
    return F.reshape(layer_in, shape=(T * N, H)), new_state                        # (T*N, H)


def _project(F, params, hidden_states, V):
    # Tied weights: the output layer reuses the input embedding (V, H).
    W = params["W_hq"] if "W_hq" in params else params["embed"]
    return F.FullyConnected(hidden_states, W, params["b_q"], num_hidden=V)


def _loss(F, logits, Y, smoothing, V):
    labels = F.reshape(F.transpose(Y), shape=(-1,))               # time-major, like the logits
    logp = F.log_softmax(logits)
    nll = -F.pick(logp, labels)
    if not smoothing:
        return nll, nll
    # The mean over the vocabulary as a product with a constant row of 1/V: MXNet's reduction
    # over the last axis of a (T*N, V) matrix, with its backward, is about 4x slower here.
    uniform = F.BlockGrad(F.ones_like(F.slice_axis(logits, axis=0, begin=0, end=1)) / V)  # (1, V)
    mean_logp = F.reshape(F.FullyConnected(logp, uniform, no_bias=True, num_hidden=1), shape=(-1,))
    return (1 - smoothing) * nll - smoothing * mean_logp, nll


def _split(F, x, n, axis):
    """x split into n parts along axis, that axis dropped, always as a list."""
    if n == 1:
        return [F.squeeze(x, axis=axis)]
    return list(F.split(x, num_outputs=n, axis=axis, squeeze_axis=True))


def _dropout(F, x, p: float, axes=()):
    """Dropout with rate p; along `axes` the mask is shared (axes=(1,) drops whole rows)."""
    return F.Dropout(x, p=p, axes=axes) if p > 0 else x


def _recurrence(F, cell, xw, state: tuple, W, b_hh, T, GH, H):
    """Run one layer over time. xw (T, N, GH) is the input projection with its bias, W is W_hh
    (GH, H); returns the states (T*N, H) and the final state."""
    outputs = []
    for xw_t in _split(F, xw, T, axis=0):                                    # (N, GH)
        if b_hh is None:
            hw_t = F.FullyConnected(state[0], W, no_bias=True, num_hidden=GH)
        else:
            hw_t = F.FullyConnected(state[0], W, b_hh, num_hidden=GH)
        state = cell(F, xw_t, hw_t, state, H)
        outputs.append(state[0])
    return F.concat(*outputs, dim=0), state                                  # (T*N, H)


def _gates(F, x, G, H):
    """The G gate blocks (N, H) of x (N, G*H). Split, not slice: the backward of a split is one
    concatenation, while each slice's backward writes a zero-padded copy of the whole input. And
    split as (N, G, H) along the middle axis: MXNet splits the last axis of a matrix element by
    element, about twice as slow for the whole cell (measured in a GRU step)."""
    return F.split(F.reshape(x, shape=(0, G, H)), num_outputs=G, axis=1, squeeze_axis=True)


def rnn_cell(F, xw_t, hw_t, state, H):
    return (F.Activation(xw_t + hw_t, act_type="tanh"),)


def gru_cell(F, xw_t, hw_t, state, H):
    (h,) = state
    x_r, x_z, x_n = _gates(F, xw_t, 3, H)
    h_r, h_z, h_n = _gates(F, hw_t, 3, H)
    r = F.Activation(x_r + h_r, act_type="sigmoid")
    z = F.Activation(x_z + h_z, act_type="sigmoid")
    n = F.Activation(x_n + r * h_n, act_type="tanh")
    return (n + z * (h - n),)                   # (1 - z) * n + z * h


def lstm_cell(F, xw_t, hw_t, state, H):
    h, c = state
    i, f, g, o = _gates(F, xw_t + hw_t, 4, H)
    c = F.Activation(f, act_type="sigmoid") * c \
        + F.Activation(i, act_type="sigmoid") * F.Activation(g, act_type="tanh")
    return (F.Activation(o, act_type="sigmoid") * F.Activation(c, act_type="tanh"), c)


CELLS = {"rnn": rnn_cell, "gru": gru_cell, "lstm": lstm_cell}

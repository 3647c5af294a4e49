"""model.py against independent references: a NumPy float64 loop, finite differences, and
MXNet's fused gluon.rnn layers given the same weights."""

from types import SimpleNamespace

import numpy as np
import pytest

from jaylyrics import model
from jaylyrics.backend import autograd, mx, nd

CTX = mx.cpu()
KINDS = ["rnn", "gru", "lstm"]


def make_cfg(kind, hidden=5, layers=1, embed=0, dropout=0.0, std=0.4, tie=False, weight_drop=0.0,
             embed_drop=0.0):
    return SimpleNamespace(type=kind, hidden_size=hidden, num_layers=layers, embed_size=embed,
                           dropout=dropout, init_std=std, tie_weights=tie, weight_drop=weight_drop,
                           embed_drop=embed_drop)


def make_params(cfg, V, dtype="float64", seed=0):
    """Parameters with non-zero biases too, so that every term is exercised."""
    params = model.init_params(cfg, V, CTX, seed)
    rng = np.random.RandomState(seed + 1)
    out = {}
    for name, p in params.items():
        value = p.asnumpy().astype(dtype)
        if value.ndim == 1:
            value = rng.normal(0, 0.3, value.shape).astype(dtype)
        out[name] = nd.array(value, ctx=CTX, dtype=dtype)
        out[name].attach_grad()
    return out


def random_state(cfg, N, dtype="float64", seed=2):
    rng = np.random.RandomState(seed)
    return tuple(nd.array(rng.normal(0, 0.5, s.shape), ctx=CTX, dtype=dtype)
                 for s in model.begin_state(cfg, N, CTX))


# ---------------------------------------------------------------- NumPy float64 reference loop

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_forward(P, X, state, cfg):
    """The equations of model.py's docstring, written out step by step in NumPy."""
    P = {k: v.asnumpy().astype(np.float64) for k, v in P.items()}
    state = [s.asnumpy().astype(np.float64).copy() for s in state]
    V, H = P["b_q"].shape[0], cfg.hidden_size
    N, T = X.shape
    logits = np.zeros((T, N, V))
    for t in range(T):
        if "embed" in P:
            x = P["embed"][X[:, t]]
        else:
            x = np.eye(V)[X[:, t]]                      # one-hot, as in the tutorial
        for layer in range(cfg.num_layers):
            Wx, Wh, b = P[f"l{layer}.W_xh"], P[f"l{layer}.W_hh"], P[f"l{layer}.b_h"]
            h = state[0][layer]
            if cfg.type == "rnn":
                h = np.tanh(x @ Wx.T + h @ Wh.T + b)
            elif cfg.type == "gru":
                ax, ah = x @ Wx.T + b, h @ Wh.T
                r = sigmoid(ax[:, :H] + ah[:, :H])
                z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
                n = np.tanh(ax[:, 2 * H:] + r * (ah[:, 2 * H:] + P[f"l{layer}.b_hn"]))
                h = (1 - z) * n + z * h
            else:
                c = state[1][layer]
                a = x @ Wx.T + h @ Wh.T + b
                i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
                c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                h = sigmoid(o) * np.tanh(c)
                state[1][layer] = c
            state[0][layer] = h
            x = h
        W_hq = P["W_hq"] if "W_hq" in P else P["embed"]
        logits[t] = x @ W_hq.T + P["b_q"]
    return logits.reshape(T * N, V), state


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers,embed,tie", [(1, 0, False), (2, 3, False), (2, 5, True)])
def test_forward_matches_numpy_reference(kind, layers, embed, tie):
    V, N, T = 7, 3, 4
    cfg = make_cfg(kind, layers=layers, embed=embed, tie=tie)
    P = make_params(cfg, V)
    X = np.random.RandomState(3).randint(0, V, (N, T))
    state = random_state(cfg, N)
    logits, new_state = model.forward(P, nd.array(X, dtype="float64"), state, cfg)
    ref_logits, ref_state = reference_forward(P, X, state, cfg)
    np.testing.assert_allclose(logits.asnumpy(), ref_logits, rtol=1e-10, atol=1e-12)
    for got, want in zip(new_state, ref_state):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_one_hot_and_row_gather_inputs_agree(kind):
    cfg = make_cfg(kind, layers=2)
    P = make_params(cfg, 9, dtype="float32")
    X = nd.array(np.random.RandomState(0).randint(0, 9, (4, 6)))
    state = random_state(cfg, 4, dtype="float32")
    a, sa = model.forward(P, X, state, cfg, one_hot=False)
    b, sb = model.forward(P, X, state, cfg, one_hot=True)
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)
    for x, y in zip(sa, sb):
        np.testing.assert_allclose(x.asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- finite differences

def loss_and_grads(P, X, Y, state, cfg, weights):
    for s in state:
        s.attach_grad()
    with autograd.record():
        logits, _ = model.forward(P, X, state, cfg)
        loss = nd.sum(model.nll(logits, Y) * weights)
    loss.backward()
    return loss.asscalar()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers,embed,tie", [(1, 0, False), (2, 3, False), (1, 4, True)])
def test_gradients_match_finite_differences(kind, layers, embed, tie):
    V, N, T = 6, 2, 3
    cfg = make_cfg(kind, hidden=4, layers=layers, embed=embed, tie=tie)
    P = make_params(cfg, V)
    rng = np.random.RandomState(5)
    X = nd.array(rng.randint(0, V, (N, T)), dtype="float64")
    Y = nd.array(rng.randint(0, V, (N, T)), dtype="float64")
    weights = nd.array(rng.uniform(0.5, 1.5, T * N), dtype="float64")
    state = random_state(cfg, N)
    loss_and_grads(P, X, Y, state, cfg, weights)
    analytic = {name: p.grad.asnumpy().copy() for name, p in P.items()}
    analytic.update({f"state{i}": s.grad.asnumpy().copy() for i, s in enumerate(state)})
    targets = dict(P, **{f"state{i}": s for i, s in enumerate(state)})

    def loss_now():
        logits, _ = model.forward(P, X, state, cfg)
        return nd.sum(model.nll(logits, Y) * weights).asscalar()

    eps = 1e-6
    for name, arr in targets.items():
        flat = arr.asnumpy().ravel()
        for k in rng.choice(flat.size, size=min(flat.size, 6), replace=False):
            orig = flat[k]
            values = []
            for delta in (eps, -eps):
                flat[k] = orig + delta
                arr[:] = flat.reshape(arr.shape)
                values.append(loss_now())
            flat[k] = orig
            arr[:] = flat.reshape(arr.shape)
            numeric = (values[0] - values[1]) / (2 * eps)
            got = analytic[name].ravel()[k]
            assert abs(got - numeric) <= 1e-6 + 1e-5 * abs(numeric), (name, k, got, numeric)


# ---------------------------------------------------------------- MXNet's fused layers

def fused_reference(kind, P, cfg, V, X, state):
    """gluon.rnn.{RNN,GRU,LSTM} + Dense with our weights copied in (gate order is the same;
    gluon has two bias vectors where we keep one, plus b_hn for the GRU candidate)."""
    from mxnet import gluon

    H, L, G = cfg.hidden_size, cfg.num_layers, model.GATES[kind]
    layer = {"rnn": lambda: gluon.rnn.RNN(H, L, activation="tanh", input_size=V),
             "gru": lambda: gluon.rnn.GRU(H, L, input_size=V),
             "lstm": lambda: gluon.rnn.LSTM(H, L, input_size=V)}[kind]()
    layer.initialize(ctx=CTX)
    for name, param in layer.collect_params().items():
        l, part = name.rsplit("_l", 1)[1].split("_", 1)
        if part == "i2h_weight":
            param.set_data(P[f"l{l}.W_xh"])
        elif part == "h2h_weight":
            param.set_data(P[f"l{l}.W_hh"])
        elif part == "i2h_bias":
            param.set_data(P[f"l{l}.b_h"])
        elif part == "h2h_bias":
            bias = nd.zeros((G * H,), ctx=CTX)
            if kind == "gru":
                bias[2 * H:] = P[f"l{l}.b_hn"]
            param.set_data(bias)
    dense = gluon.nn.Dense(V, in_units=H)
    dense.initialize(ctx=CTX)
    dense.weight.set_data(P["W_hq"])
    dense.bias.set_data(P["b_q"])
    seq, new_state = layer(nd.one_hot(X.T, V), list(state))          # (T, N, H)
    return dense(seq.reshape((-1, H))), new_state


@pytest.mark.parametrize("kind", KINDS)
def test_equals_fused_gluon_layers(kind):
    V, N, T = 13, 4, 7
    cfg = make_cfg(kind, hidden=8, layers=2, std=0.3)
    P = make_params(cfg, V, dtype="float32")
    X = nd.array(np.random.RandomState(1).randint(0, V, (N, T)))
    state = random_state(cfg, N, dtype="float32")
    logits, new_state = model.forward(P, X, state, cfg)
    ref_logits, ref_state = fused_reference(kind, P, cfg, V, X, state)
    np.testing.assert_allclose(logits.asnumpy(), ref_logits.asnumpy(), rtol=1e-5, atol=1e-5)
    for got, want in zip(new_state, ref_state):
        np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- state and shapes

@pytest.mark.parametrize("kind", KINDS)
def test_state_carried_across_a_split_sequence_equals_one_pass(kind):
    cfg = make_cfg(kind, layers=2, embed=3)
    P = make_params(cfg, 8)
    X = nd.array(np.random.RandomState(4).randint(0, 8, (2, 9)), dtype="float64")
    state = random_state(cfg, 2)
    whole, s_whole = model.forward(P, X, state, cfg)
    first, s1 = model.forward(P, X[:, :4], state, cfg)
    second, s2 = model.forward(P, X[:, 4:], s1, cfg)
    both = np.concatenate([first.asnumpy(), second.asnumpy()])    # time-major rows
    np.testing.assert_allclose(both, whole.asnumpy(), rtol=1e-12)
    for a, b in zip(s2, s_whole):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_single_step(kind):
    cfg = make_cfg(kind, hidden=6, layers=3)
    P = model.init_params(cfg, 10, CTX, 0)
    state = model.begin_state(cfg, 5, CTX)
    assert len(state) == (2 if kind == "lstm" else 1)
    assert all(s.shape == (3, 5, 6) for s in state)
    logits, new_state = model.forward(P, nd.array([[1], [2], [3], [4], [5]]), state, cfg)   # T = 1
    assert logits.shape == (5, 10)
    assert [s.shape for s in new_state] == [s.shape for s in state]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers,embed,tie", [(1, 0, False), (3, 4, False), (2, 6, True)])
def test_count_params_is_the_number_of_weights_made(kind, layers, embed, tie):
    """The closed form (which the CLI's memory check uses) against the arrays themselves."""
    cfg = make_cfg(kind, hidden=6, layers=layers, embed=embed, tie=tie)
    made = model.init_params(cfg, 11, CTX, 0)
    assert model.count_params(cfg, 11) == model.num_params(made) == \
        sum(int(np.prod(s)) for s in model.param_shapes(cfg, 11).values())


def test_initial_perplexity_is_close_to_vocabulary_size():
    """Tiny weights predict nearly uniformly: perplexity ~ V, the uniform baseline."""
    V = 50
    cfg = make_cfg("rnn", hidden=16, std=0.01)
    P = model.init_params(cfg, V, CTX, 0)
    X = nd.array(np.random.RandomState(0).randint(0, V, (4, 20)))
    logits, _ = model.forward(P, X, model.begin_state(cfg, 4, CTX), cfg)
    ppl = float(np.exp(model.nll(logits, X).mean().asscalar()))
    assert abs(ppl - V) / V < 0.01


def test_init_is_deterministic_and_normal():
    cfg = make_cfg("rnn", hidden=64, std=0.01)
    a = model.init_params(cfg, 100, CTX, seed=7)
    b = model.init_params(cfg, 100, CTX, seed=7)
    c = model.init_params(cfg, 100, CTX, seed=8)
    assert all(np.array_equal(a[k].asnumpy(), b[k].asnumpy()) for k in a)
    assert not np.array_equal(a["W_hq"].asnumpy(), c["W_hq"].asnumpy())
    assert abs(a["l0.W_xh"].asnumpy().std() - 0.01) < 0.001
    assert not a["b_q"].asnumpy().any()


def test_detach_returns_arrays_cut_from_the_graph():
    """The tutorial calls s.detach() and throws the result away; ours must be used."""
    cfg = make_cfg("rnn", hidden=3)
    P = make_params(cfg, 5, dtype="float32")
    X = nd.array([[1, 2]])
    state = model.begin_state(cfg, 1, CTX)
    with autograd.record():
        _, s1 = model.forward(P, X, state, cfg)
        _, s2 = model.forward(P, X, model.detach(s1), cfg)
        loss = nd.sum(s2[0])
    loss.backward()
    g_detached = P["l0.W_hh"].grad.asnumpy().copy()
    with autograd.record():
        _, s1 = model.forward(P, X, state, cfg)
        _, s2 = model.forward(P, X, s1, cfg)
        loss = nd.sum(s2[0])
    loss.backward()
    assert not np.allclose(g_detached, P["l0.W_hh"].grad.asnumpy())


def test_label_smoothed_loss_matches_numpy():
    rng = np.random.RandomState(0)
    logits = rng.normal(size=(6, 5))
    Y = rng.randint(0, 5, (2, 3))
    train_loss, nll = model.loss(nd.array(logits, dtype="float64"), nd.array(Y, dtype="float64"), 0.1)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    labels = Y.T.reshape(-1)
    want_nll = -logp[np.arange(6), labels]
    np.testing.assert_allclose(nll.asnumpy(), want_nll, rtol=1e-12)
    target = np.full((6, 5), 0.1 / 5)
    target[np.arange(6), labels] += 0.9
    np.testing.assert_allclose(train_loss.asnumpy(), -(target * logp).sum(axis=1), rtol=1e-12)


def test_label_smoothed_loss_gradient_is_softmax_minus_target():
    """The closed form: d/dz of -sum(target * log softmax(z)) is softmax(z) - target."""
    rng = np.random.RandomState(1)
    logits = nd.array(rng.normal(size=(6, 5)), dtype="float64")
    Y = rng.randint(0, 5, (2, 3))
    logits.attach_grad()
    with autograd.record():
        train_loss, _ = model.loss(logits, nd.array(Y, dtype="float64"), 0.2)
        total = nd.sum(train_loss)
    total.backward()
    z = logits.asnumpy()
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    target = np.full((6, 5), 0.2 / 5)
    target[np.arange(6), Y.T.reshape(-1)] += 0.8
    np.testing.assert_allclose(logits.grad.asnumpy(), softmax - target, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers,embed,tie", [(1, 0, False), (2, 4, False), (1, 5, True)])
def test_compiled_graph_equals_the_op_by_op_forward_and_gradients(kind, layers, embed, tie):
    """The hybridized graph runs the same equations: same logits, state, loss and gradients,
    also when its output state is fed back in (as the consecutive sampler does)."""
    V, N, T = 9, 3, 5
    cfg = make_cfg(kind, layers=layers, embed=embed, tie=tie)
    P = make_params(cfg, V, dtype="float32")
    rng = np.random.RandomState(0)
    X1, Y1, X2, Y2 = (nd.array(rng.randint(0, V, (N, T))) for _ in range(4))
    state = random_state(cfg, N, dtype="float32")

    def op_by_op(X, Y, state):
        with autograd.record():
            logits, state = model.forward(P, X, state, cfg)
            train_loss, nll = model.loss(logits, Y, 0.1)
            loss = nd.mean(train_loss)
        loss.backward()
        return loss.asscalar(), nd.sum(nll).asscalar(), state, {k: p.grad.asnumpy().copy()
                                                                 for k, p in P.items()}

    run = model.compiled(cfg, V, N, T, (0.1, "mean"))

    def graph(X, Y, state):
        with autograd.record():
            loss, nll_sum, state = run(P, X, state, Y)
        loss.backward()
        return loss.asscalar(), nll_sum.asscalar(), state, {k: p.grad.asnumpy().copy()
                                                            for k, p in P.items()}

    a1, b1 = op_by_op(X1, Y1, state), graph(X1, Y1, state)
    a2, b2 = op_by_op(X2, Y2, model.detach(a1[2])), graph(X2, Y2, model.detach(b1[2]))
    for a, b in ((a1, b1), (a2, b2)):
        assert b[0] == pytest.approx(a[0], rel=1e-5) and b[1] == pytest.approx(a[1], rel=1e-5)
        for x, y in zip(a[2], b[2]):
            np.testing.assert_allclose(y.asnumpy(), x.asnumpy(), rtol=1e-5, atol=1e-6)
        for k in P:
            np.testing.assert_allclose(b[3][k], a[3][k], rtol=1e-4, atol=1e-6)
    logits, st = model.compiled(cfg, V, N, T)(P, X1, state)
    ref, ref_state = model.forward(P, X1, state, cfg)
    np.testing.assert_allclose(logits.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-6)


def forward_pass(compiled, V, X, state):
    """run(cfg, params) -> (logits, state) on X and state: the compiled graph or the op-by-op
    forward pass."""
    N, T = X.shape

    def run(cfg, params):
        if compiled:
            return model.compiled(cfg, V, N, T)(params, X, state)
        return model.forward(params, X, state, cfg)
    return run


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("compiled", [False, True])
def test_weight_drop_masks_the_recurrent_weights_once_for_all_time_steps(kind, compiled):
    """In training, model.weight_drop multiplies W_hh by one dropout mask (kept entries scaled by
    1 / (1 - p)) for the whole batch: the same logits as the network without weight drop whose
    W_hh was multiplied by that mask, drawn here with the same seed. W_hh's gradient is zero
    where the mask is. Outside training the weights are used as they are."""
    V, N, T, p = 7, 3, 6, 0.5
    cfg = make_cfg(kind, layers=2, weight_drop=p)
    plain = make_cfg(kind, layers=2)
    P = make_params(cfg, V, dtype="float32")
    X = nd.array(np.random.RandomState(0).randint(0, V, (N, T)))
    state = random_state(cfg, N, dtype="float32")
    run = forward_pass(compiled, V, X, state)

    masks = {}
    mx.random.seed(11)
    with autograd.train_mode():
        for layer in range(2):           # the order the forward pass draws them in
            W = P[f"l{layer}.W_hh"]
            masks[layer] = nd.Dropout(nd.ones(W.shape, dtype=W.dtype), p=p).asnumpy()
    assert set(np.unique(masks[0])) == {0.0, 2.0} and 0.3 < (masks[0] == 0).mean() < 0.7
    masked = dict(P)
    for layer, mask in masks.items():
        masked[f"l{layer}.W_hh"] = P[f"l{layer}.W_hh"] * nd.array(mask)

    mx.random.seed(11)
    with autograd.record():
        logits, _ = run(cfg, P)
    logits.backward()
    expected, _ = run(plain, masked)
    np.testing.assert_allclose(logits.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    for layer, mask in masks.items():
        grad = P[f"l{layer}.W_hh"].grad.asnumpy()
        assert np.all(grad[mask == 0] == 0) and np.count_nonzero(grad[mask > 0]) > 0.9 * (mask > 0).sum()
    np.testing.assert_allclose(run(cfg, P)[0].asnumpy(), run(plain, P)[0].asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("embed, tie", [(0, False), (4, False), (5, True)])
@pytest.mark.parametrize("compiled", [False, True])
def test_embed_drop_drops_whole_characters_for_the_batch(embed, tie, compiled):
    """In training, model.embed_drop multiplies each character's input embedding (for one-hot
    input: its column of W_xh) by one draw of a dropout mask for the whole batch: the same
    logits as the network without it whose embedding rows were multiplied by that mask, drawn
    here with the same seed. With tied weights the output layer uses the embedding as it is.
    Outside training nothing changes."""
    V, N, T, p = 9, 3, 6, 0.5
    cfg = make_cfg("gru", embed=embed, tie=tie, embed_drop=p)
    plain = make_cfg("gru", embed=embed, tie=tie)
    P = make_params(cfg, V, dtype="float32")
    X = nd.array(np.random.RandomState(0).randint(0, V, (N, T)))
    state = random_state(cfg, N, dtype="float32")
    run = forward_pass(compiled, V, X, state)

    mx.random.seed(5)
    with autograd.train_mode():
        mask = nd.Dropout(nd.ones((V, 1)), p=p, axes=(1,)).asnumpy()[:, 0]       # (V,)
    assert set(np.unique(mask)) == {0.0, 2.0}
    masked = dict(P)
    if embed:
        masked["embed"] = P["embed"] * nd.array(mask[:, None])
        if tie:
            masked["W_hq"] = P["embed"]                 # the output layer: the embedding unmasked
    else:
        masked["l0.W_xh"] = P["l0.W_xh"] * nd.array(mask[None, :])

    mx.random.seed(5)
    with autograd.record():
        logits, _ = run(cfg, P)
    expected, _ = run(plain if not tie else make_cfg("gru", embed=embed, tie=False), masked)
    np.testing.assert_allclose(logits.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run(cfg, P)[0].asnumpy(), run(plain, P)[0].asnumpy(), rtol=1e-6)



@pytest.mark.parametrize("shape, parts, axis, squeeze", [
    ((6, 4, 5), 6, 0, True), ((6, 4, 5), 3, 0, False), ((2, 3, 4), 3, 1, True),
    ((2, 3, 4), 3, 1, False), ((2, 3, 4), 2, 2, False), ((2, 3, 4), 2, -1, False),
    ((4, 1, 5), 1, 1, True), ((5,), 5, 0, True)])
def test_the_numpy_split_cuts_as_mxnets_does(shape, parts, axis, squeeze):
    """numpy_ops.split (indexing, not np.split: the decoder splits twice a GRU step) gives the
    parts MXNet's split gives, in order, with the axis squeezed or kept."""
    from jaylyrics import numpy_ops

    x = np.random.RandomState(0).normal(size=shape).astype(np.float32)
    got = numpy_ops.split(x, num_outputs=parts, axis=axis, squeeze_axis=squeeze)
    want = nd.split(nd.array(x), num_outputs=parts, axis=axis, squeeze_axis=squeeze)
    want = [want] if parts == 1 else want                   # MXNet returns one array unlisted
    assert len(got) == len(want) == parts
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.array_equal(g, w.asnumpy())


def test_the_numpy_split_refuses_what_mxnet_refuses():
    from jaylyrics import numpy_ops

    x = np.zeros((2, 6))
    with pytest.raises(ValueError, match="cannot split 6 into 4 equal parts"):
        numpy_ops.split(x, num_outputs=4, axis=1)
    with pytest.raises(ValueError, match="squeeze_axis needs parts of size 1, not 2"):
        numpy_ops.split(x, num_outputs=3, axis=1, squeeze_axis=True)
    for parts, squeeze in ((4, False), (3, True)):
        with pytest.raises(mx.base.MXNetError):
            nd.split(nd.array(x), num_outputs=parts, axis=1, squeeze_axis=squeeze).wait_to_read()

"""Data-parallel training on MXNet's KVStore (`local`, or the `dist_sync` parameter server).

Every worker holds the whole model, trains on its own contiguous shard of the training text and,
after each backward pass, sums its gradients with everyone else's through the KVStore: push the
gradients, pull the sum back. With the same initial weights (rank 0's, pulled by all), the same
summed gradients and the same update rule, every worker ends each step with the same parameters,
so nothing else needs to travel but one number per epoch (rank 0's validation score, which drives
best-checkpoint, learning-rate decay and early-stopping decisions on every worker).

The scheduler, servers and workers are started by `jaylyrics launch` (`launch.py`), or by hand
with the DMLC_* environment variables (see the README).
"""

from __future__ import annotations

import hashlib

import numpy as np

from jaylyrics import JaylyricsError
from jaylyrics.backend import mx, nd
from jaylyrics.server_update import AddChange

KINDS = ("local", "dist_sync", "dist_async")

# This process created a parameter-server KVStore (dist_*): at a normal exit, MXNet's client then
# waits for every other worker (so a failing worker leaves at once: cli.app._leave_at_once).
joined = False


# The KVStore key on which workers compare what they must share (`Aggregator.check_alike`):
# beyond the keys of any model's parameters, whose number differs from model to model.
ALIKE_KEY = 1_000_000


class Aggregator:
    """Gradient all-reduce and scalar broadcast through one KVStore (dist_sync, local), or, with
    dist_async, each worker's parameter changes added to the server's weights as they come.

    `alike` holds, as text, what every worker must have the same ({"model (model.*)": its
    config, ...}): workers started by hand with another config or corpus are an error that names
    what differs, before anything travels (other parameter shapes made MXNet abort one worker and
    leave the others waiting for ever)."""

    def __init__(self, kind: str, params: dict, alike: dict | None = None):
        if kind not in KINDS:
            raise JaylyricsError(f"--kvstore {kind}: expected one of {', '.join(KINDS)}")
        try:
            self.kv = mx.kv.create(kind)
        except mx.base.MXNetError as e:
            lines = [line for line in str(e).splitlines() if line.strip()]
            reason = lines[-1].removeprefix("MXNetError: ").strip() if lines else "unknown"
            raise JaylyricsError(f"--kvstore {kind}: cannot start ({reason}); start workers "
                                 "with `jaylyrics launch`") from None
        global joined
        self.distributed = kind.startswith("dist")       # (worker processes, not devices)
        joined = joined or self.distributed
        self.rank, self.num_workers = self.kv.rank, self.kv.num_workers
        self.asynchronous = kind == "dist_async"
        if self.asynchronous:
            self.kv.set_optimizer(AddChange())
        if alike and self.distributed:
            self.check_alike(alike)
        self.names = sorted(params)
        self.keys = list(range(len(self.names)))
        self.scalar_key, self.stop_key = len(self.names), len(self.names) + 1
        values = [params[n] for n in self.names]
        self.kv.init(self.keys, values)          # the server keeps rank 0's initial weights
        self.kv.pull(self.keys, out=values)      # and every worker starts from them
        if not self.asynchronous:
            self.kv.init(self.scalar_key, nd.zeros((1,), ctx=values[0].context))
            self.kv.init(self.stop_key, nd.zeros((1,), ctx=values[0].context))

    def check_alike(self, alike: dict) -> None:
        """Every worker pushes 64 bits of the hash of each part of `alike` as four 16-bit
        numbers (exact in float32 when summed over up to 256 workers); where every worker has
        the same part, the servers' sum is the number of workers times this one's. The number
        of workers comes first: where it differs (DMLC_NUM_WORKER), no other sum is right."""
        alike = {"DMLC_NUM_WORKER": str(self.num_workers), **alike}
        mine = np.concatenate([np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest()[:8],
                                             dtype=np.uint16) for text in alike.values()])
        mine = mine.astype(np.float32)
        ctx = mx.cpu()
        total = nd.zeros(mine.shape, ctx=ctx)
        self.kv.init(ALIKE_KEY, nd.zeros(mine.shape, ctx=ctx))
        self.kv.push(ALIKE_KEY, nd.array(mine, ctx=ctx))
        if self.asynchronous:                 # (pushes are added as they come: wait for all)
            nd.waitall()
            self.kv._barrier()
        self.kv.pull(ALIKE_KEY, out=total)
        alike_parts = (total.asnumpy() == mine * self.num_workers).reshape(len(alike), 4)
        differ = [what for what, same in zip(alike, alike_parts.all(axis=1)) if not same]
        if differ and differ[0] == "DMLC_NUM_WORKER":
            raise JaylyricsError(f"the workers of this run do not all have the same "
                                 f"DMLC_NUM_WORKER ({self.num_workers} here): give every process "
                                 "of the run the same one")
        if differ:
            raise JaylyricsError(f"the {self.num_workers} workers of this run do not all have the "
                                 f"same {' and '.join(differ)}: start every one with the same "
                                 "config and corpus")

    def share_changes(self, params: dict, before: dict) -> None:
        """dist_async: push this worker's change of every parameter since `before`, and take the
        server's weights (everyone's changes so far) back."""
        self.kv.push(self.keys, [params[n] - before[n] for n in self.names])
        self.kv.pull(self.keys, out=[params[n] for n in self.names])

    def sum_gradients(self, params: dict, mean: bool) -> None:
        """Replace every gradient by its sum over workers (or mean, for a mean-reduced loss)."""
        grads = [params[n].grad for n in self.names]
        self.kv.push(self.keys, grads)
        self.kv.pull(self.keys, out=grads)
        if mean and self.num_workers > 1:
            for g in grads:
                g /= self.num_workers

    def anyone(self, asked: bool) -> bool:
        """Whether any worker `asked` (each says whether it did; every worker gets the same
        answer). dist_async workers do not wait for each other: each answers for itself."""
        if self.asynchronous or self.num_workers == 1:
            return asked
        out = nd.zeros((1,), ctx=mx.cpu())
        self.kv.push(self.stop_key, nd.array([float(asked)], ctx=mx.cpu()))
        self.kv.pull(self.stop_key, out=out)
        return bool(out.asscalar())

    def from_rank0(self, value: float | None) -> float | None:
        """Rank 0's value on every worker (None travels as NaN). dist_async workers do not wait
        for each other: each keeps its own value."""
        if self.asynchronous:
            return value
        ctx = mx.cpu()
        if self.rank != 0:
            mine = 0.0
        else:
            mine = value if value is not None else np.nan
        out = nd.zeros((1,), ctx=ctx)
        self.kv.push(self.scalar_key, nd.array([mine], ctx=ctx))
        self.kv.pull(self.scalar_key, out=out)
        result = float(out.asscalar())
        return None if np.isnan(result) else result


def shard(ids: np.ndarray, rank: int, num_workers: int) -> np.ndarray:
    """Worker `rank`'s contiguous, equal-length part of the training ids."""
    size = len(ids) // num_workers
    return ids[rank * size:(rank + 1) * size]


class Replicas:
    """Data parallel over several devices of one process (`--device cpu:0,1`, `gpu:0,1`): a copy
    of the parameters on each device, the batch split between them, and the gradients summed
    through a local KVStore, so that every copy takes the same update."""

    def __init__(self, params: dict, contexts: list):
        self.contexts = contexts
        self.copies = [params]
        for ctx in contexts[1:]:
            copy = {name: p.copyto(ctx) for name, p in params.items()}
            for p in copy.values():
                p.attach_grad()
            self.copies.append(copy)
        self.names = sorted(params)
        self.kv = mx.kv.create("local")
        for i, name in enumerate(self.names):
            self.kv.init(i, params[name])

    def sum_gradients(self, mean: bool) -> None:
        """Every copy's gradients become the sum (or mean) over copies."""
        for i, name in enumerate(self.names):
            grads = [copy[name].grad for copy in self.copies]
            self.kv.push(i, grads)
            self.kv.pull(i, out=grads)
            if mean:
                for g in grads:
                    g /= len(self.copies)

    def broadcast_gradients(self) -> None:
        """Every other copy's gradients become the first copy's (after the workers' sum)."""
        for name in self.names:
            for copy in self.copies[1:]:
                self.copies[0][name].grad.copyto(copy[name].grad)

    def broadcast_params(self) -> None:
        """Every other copy's parameters become the first copy's (dist_async: the servers')."""
        for name in self.names:
            for copy in self.copies[1:]:
                self.copies[0][name].copyto(copy[name])

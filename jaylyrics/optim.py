"""Updating parameters: SGD and Adam with MXNet's fused update operators, and clipping by the
global gradient norm. Parameters are a dict of NDArrays with gradients attached; nothing here
knows about the model or the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from jaylyrics.backend import nd


@dataclass
class Optimizer:
    """SGD or Adam over a dict of parameters, with MXNet's fused update operators."""

    kind: str
    lr: float
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    steps: int = 0
    moments: dict = field(default_factory=dict)

    def arrays(self) -> dict:
        """The optimiser's moments as named arrays, for a resumable checkpoint."""
        return {f"{name}.{part}": m for name, pair in self.moments.items()
                for part, m in zip(("mean", "var"), pair)}

    def restore(self, arrays: dict) -> None:
        names = {key.rsplit(".", 1)[0] for key in arrays}
        self.moments = {n: (arrays[f"{n}.mean"], arrays[f"{n}.var"]) for n in names}

    def step(self, params: dict, rescale_grad: float = 1.0) -> None:
        """Update every parameter from its gradient times `rescale_grad` (the clipping scale)."""
        self.steps += 1
        if self.kind == "sgd":
            for p in params.values():
                nd.sgd_update(p, p.grad, lr=self.lr, wd=self.weight_decay,
                              rescale_grad=rescale_grad, out=p)
            return
        # Adam with bias correction folded into the step size, as gluon's Adam does.
        t = self.steps
        lr = self.lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        for name, p in params.items():
            if name not in self.moments:
                self.moments[name] = (nd.zeros(p.shape, ctx=p.context),
                                      nd.zeros(p.shape, ctx=p.context))
            mean, var = self.moments[name]
            nd.adam_update(p, p.grad, mean, var, lr=lr, beta1=self.beta1, beta2=self.beta2,
                           epsilon=self.eps, wd=self.weight_decay, rescale_grad=rescale_grad,
                           out=p)


def global_norm(params: dict) -> float:
    """The L2 norm of all gradients together: one fused operator, one host synchronisation."""
    grads = [p.grad for p in params.values()]
    return math.sqrt(float(nd.multi_sum_sq(*grads, num_arrays=len(grads)).sum().asscalar()))


def clip_scale(norm: float, max_norm: float) -> float:
    """The factor that brings a gradient of this norm down to `max_norm` (0: no clipping).
    The optimiser applies it while updating, so the gradients are not rewritten first."""
    return max_norm / norm if max_norm > 0 and norm > max_norm else 1.0

"""The parameter servers' update rule for `--kvstore dist_async`: add each pushed change.

MXNet runs a server from inside its own `import mxnet`, and unpickles the update rule that the
workers send while that import is still going on; so this module imports nothing but
`mxnet.optimizer` (already loaded by then), not `jaylyrics.backend`. Workers import it through
`jaylyrics.distributed`, after the backend has set MXNet up.
"""

from mxnet import optimizer as _optimizer


class AddChange(_optimizer.Optimizer):
    """weight += what a worker pushed. The real optimiser, with clipping and moments, runs on
    each worker; the servers only accumulate the workers' changes, in whatever order they come."""

    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state):
        weight[:] += grad

"""A streamed run in a child process, for :mod:`tests.test_stream_hosts`: one process of a
two-process ``jax.distributed`` run over loopback, or the one-process run it is compared with.

``python -c "from tests.stream_hosts import child; child()" PORT PROCESS DATA KIND`` prints one
JSON line: the trained parameters (float64), the row groups the process decoded while training
and the rows it materialised. ``PROCESS`` is 0 or 1, or ``single``; ``KIND`` is ``parquet`` (a
directory, sharded by row groups) or ``npy`` (rows by index: each process reads its half of every
batch).
"""

import json
import sys


def child():
    port, process, data, kind = sys.argv[1:5]
    import jax

    jax.config.update("jax_enable_x64", True)
    from jaxmlp.training import parallel

    if process != "single":
        parallel.initialize(f"127.0.0.1:{port}", 2, int(process))
    import numpy as np

    import jaxmlp
    from jaxmlp.io.parquet_source import ParquetSource
    from jaxmlp.io.source import NpySource
    from jaxmlp.training.streamed import ShardedSource

    decoded, materialised = [], []
    if kind == "parquet":
        source = ParquetSource(data, "label", dtype="float64", window_bytes=40_000)
        encoded = ParquetSource._encoded

        def counting(self, g, standardise=True):
            decoded.append(int(g))
            return encoded(self, g, standardise)

        ParquetSource._encoded = counting
        rows = ParquetSource.rows
    else:
        source = NpySource(f"{data}/x.npy", f"{data}/y.npy")
        rows = NpySource.rows

    def counted(self, idx, dtype=None):
        materialised.extend(int(i) for i in np.asarray(idx).ravel())
        return rows(self, idx, dtype)

    type(source).rows = counted
    net = jaxmlp.MLP(sizes=(source.n_features, 16, 2), activation="tanh",
                     output_activation="softmax", loss="cross_entropy")  # fmt: skip
    params = net.init(jax.random.key(0), np.float64)
    run = dict(steps=40, batch_size=64, key=jax.random.key(1), optimizer="adam",
               learning_rate=0.01, chunk_size=10)  # fmt: skip
    if process == "single":
        one = ShardedSource(source, 2) if kind == "parquet" else source
        result = jaxmlp.fit(net, params, one, None, **run)
    else:
        result = jaxmlp.fit(net, params, source, None, devices=2, **run)
    leaves = jax.tree_util.tree_leaves(parallel.to_host_tree(result.params))
    print(json.dumps({
        "params": [np.asarray(a, np.float64).ravel().tolist() for a in leaves],
        "decoded": sorted(set(decoded)),
        "rows": materialised,
        "losses": np.asarray(result.losses).tolist(),
    }))  # fmt: skip

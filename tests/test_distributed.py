"""Data and population parallelism: N forced CPU devices, and two processes joined by jax.distributed.

XLA_FLAGS must be set before JAX starts, so every check runs in a subprocess
(the flag never leaks into this test process).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.cli_helpers import assert_one_line_error, run_process
from tests.settings import thorough_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code: str, devices: int, timeout=240, extra_env=None):
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "PYTHONPATH": ROOT,
        **(extra_env or {}),
    }
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_this_process_has_one_device():
    import jax

    assert len(jax.devices()) == 1  # the flag of the subprocesses did not leak here


@thorough_only
def test_fit_and_sweep_on_four_devices_equal_one_device():
    out = python(
        """
        import json, jax, numpy as np, jaxmlp
        from jaxmlp.training import population
        net = jaxmlp.MLP((4, 8, 3), activation="tanh", output_activation="softmax", loss="cross_entropy")
        p = net.init(jax.random.key(0))
        x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
        y = np.random.default_rng(1).integers(0, 3, 32)
        res = {"devices": len(jax.devices())}
        for grad in ("autodiff", "backprop"):
            for bs in (None, 8):
                kw = dict(steps=60, learning_rate=0.3, grad=grad, batch_size=bs, key=jax.random.key(3), optimizer="adam")
                a = jaxmlp.fit(net, p, x, y, **kw)
                b = jaxmlp.fit(net, p, x, y, devices=4, **kw)
                mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
                c = jaxmlp.fit(net, p, x, y, devices=mesh, **kw)
                res[f"{grad}/{bs}"] = [float(np.abs(a.losses - b.losses).max()), float(np.abs(a.losses - c.losses).max()),
                                       max(float(np.abs(np.asarray(u) - np.asarray(v)).max()) for u, v in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params))),
                                       b.params[0]["w"].sharding.is_fully_replicated]
        for layout in ("vmap", "lanes"):
            kw = dict(learning_rates=[0.1, 0.5], seeds=[0, 1], steps=30, layout=layout)
            r1 = population.sweep(net, x[:16], y[:16], **kw)
            r4 = population.sweep(net, x[:16], y[:16], devices=4, **kw)
            res[f"sweep/{layout}"] = float(np.abs(r1.final_loss - r4.final_loss).max())
        errors = []
        for call in (lambda: jaxmlp.fit(net, p, x[:30], y[:30], steps=1, learning_rate=0.1, devices=4),
                     lambda: jaxmlp.fit(net, p, x, y, steps=1, learning_rate=0.1, devices=4, batch_size=6, key=jax.random.key(0)),
                     lambda: jaxmlp.fit(net, p, x, y, steps=1, learning_rate=0.1, devices=8),
                     lambda: population.sweep(net, x, y, learning_rates=[0.1], seeds=[0, 1, 2], steps=1, devices=4)):
            try:
                call()
                errors.append(None)
            except ValueError as e:
                errors.append(str(e))
        res["errors"] = errors
        print(json.dumps(res))
        """,
        devices=4,
    )
    assert out["devices"] == 4
    for key in ("autodiff/None", "autodiff/8", "backprop/None", "backprop/8"):
        loss_diff, mesh_diff, param_diff, spec = out[key]
        # float32: the sharded gradient sums partial sums in another order (~1 ulp per step);
        # after 60 adam steps losses agree to 1e-5 and parameters to 1e-4 absolute.
        assert loss_diff <= 1e-5 and mesh_diff <= 1e-5 and param_diff <= 1e-4, (key, out[key])
        assert spec is True  # parameters replicated
    assert out["sweep/vmap"] <= 1e-6 and out["sweep/lanes"] <= 1e-6
    assert (
        out["errors"][0]
        == "a full batch of 30 does not divide over 4 devices; use a multiple of 4 (e.g. 28 or 32)"
    )
    assert out["errors"][1].startswith("a batch of 6 does not divide over 4 devices")
    assert "asked for 8 devices, but JAX sees 4 (cpu)" in out["errors"][2]
    assert out["errors"][3].startswith("a population of 3 does not divide over 4 devices")


@thorough_only
def test_gradients_are_all_reduced_in_both_gradient_paths():
    """Each device sees a quarter of the batch; the update must use the whole batch's gradient
    (XLA's all-reduce), so every replica ends equal to one device's run, for both gradients."""
    out = python(
        """
        import json, jax, numpy as np, jaxmlp
        net = jaxmlp.MLP((4, 8, 3), activation="tanh")
        p = net.init(jax.random.key(0))
        rng = np.random.default_rng(0)
        x = rng.standard_normal((16, 4)).astype(np.float32)
        y = rng.standard_normal((16, 3)).astype(np.float32)
        res = {}
        for grad in ("autodiff", "backprop"):
            one = jaxmlp.fit(net, p, x, y, steps=3, learning_rate=0.5, grad=grad).params
            four = jaxmlp.fit(net, p, x, y, steps=3, learning_rate=0.5, grad=grad, devices=4).params
            w = four[0]["w"]
            replicas = [np.asarray(s.data) for s in w.addressable_shards]
            res[grad] = {
                "devices": len(replicas),
                "replicas_equal": all(np.array_equal(r, replicas[0]) for r in replicas),
                "max_diff": max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                                for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(four))),
                "moved": float(np.abs(np.asarray(one[0]["w"]) - np.asarray(p[0]["w"])).max()),
            }
        print(json.dumps(res))
        """,
        devices=4,
    )
    for grad in ("autodiff", "backprop"):
        r = out[grad]
        assert r["devices"] == 4 and r["replicas_equal"]
        # float32, summation order only (a local-only update would differ by ~the step itself)
        assert r["max_diff"] < 1e-5 < r["moved"]


@thorough_only
def test_cli_devices_option(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    table = tmp_path / "t.csv"
    table.write_text("a,b,c,y\n" + "".join(f"{a},{b},{c},{int(a + b > 0)}\n" for a, b, c in x))
    ensemble = ["train", str(table), "--target", "y", "--ensemble", "4", "--epochs", "5", "--json"]
    code = f"""
        import json, io, contextlib
        from jaxmlp.cli import main
        outs = []
        for argv in (["train", "digits", "--sizes", "64,16,10", "--batch-size", "32", "--steps", "40", "--json"],
                     ["train", "digits", "--sizes", "64,16,10", "--batch-size", "32", "--steps", "40", "--json", "--devices", "4"],
                     ["sweep", "--learning-rates", "2", "--seeds", "2", "--steps", "50", "--json", "--devices", "4"],
                     ["sweep", "--learning-rates", "2", "--seeds", "2", "--steps", "50", "--json"],
                     {ensemble!r}, {ensemble + ["--devices", "2"]!r}):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert main(argv) == 0
            outs.append(json.loads(buf.getvalue()))
        print(json.dumps([o.get("final_loss", o.get("median_final_loss")) for o in outs]))
    """
    a, b, c, d, e, f = python(code, devices=4, extra_env={"JAXMLP_CACHE_DIR": ""})
    assert a == pytest.approx(b, rel=1e-4) and c == pytest.approx(d, rel=1e-5)
    assert e == pytest.approx(f, rel=1e-4)  # an ensemble's members split over two devices


@thorough_only  # two fresh processes; the in-process tests above cover the split itself
def test_cli_devices_split_the_cpu_without_xla_flags():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(PYTHONPATH=ROOT, JAXMLP_CACHE_DIR="")
    argv = ["sweep", "--learning-rates", "2", "--seeds", "2", "--steps", "50", "--json"]
    runs = [run_process(*argv, *extra, env=env) for extra in ([], ["--devices", "2"])]
    assert [r.returncode for r in runs] == [0, 0], runs[1].stderr
    one, two = (json.loads(r.stdout) for r in runs)
    assert one["median_final_loss"] == pytest.approx(two["median_final_loss"], rel=1e-6)
    code = "from jaxmlp.training.parallel import make_mesh; make_mesh(3)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "jax_num_cpu_devices" in r.stderr  # the hint names the in-Python switch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_processes(code: str, *args: str) -> list:
    """``python -c code PORT PROCESS *args`` as the two processes of a ``jax.distributed`` run over
    loopback, one CPU device each (again with a new port if the first was taken); the last line
    each prints, as JSON."""
    for _ in range(2):
        port = free_port()
        env = {**os.environ, "PYTHONPATH": ROOT, "JAXMLP_CACHE_DIR": "",
               "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}  # fmt: skip
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(port), str(p), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for p in range(2)
        ]  # fmt: skip
        with ThreadPoolExecutor(2) as pool:  # both read at once: a full pipe would block its writer
            outs = list(pool.map(lambda proc: proc.communicate(timeout=240), procs))
        if all(proc.returncode == 0 for proc in procs):
            return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    raise AssertionError(outs[0][1][-3000:] + outs[1][1][-3000:])


def launch_two_processes(args, checkpoint_dir):
    """Run ``jaxmlp args`` as two processes x two CPU devices; return their exit codes, stdouts, stderrs."""
    port = free_port()
    procs = []
    for pid in range(2):
        env = {
            **os.environ,
            "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
            "PYTHONPATH": ROOT,
            "JAXMLP_CACHE_DIR": "",
        }
        argv = [
            *args,
            "--coordinator",
            f"127.0.0.1:{port}",
            "--num-processes",
            "2",
            "--process-id",
            str(pid),
            "--checkpoint",
            str(checkpoint_dir),
        ]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "jaxmlp.cli", *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    return [(proc, *proc.communicate(timeout=240)) for proc in procs]


@thorough_only
def test_two_processes_on_loopback_train_like_one(tmp_path):
    """jax.distributed with gloo CPU collectives: 2 processes x 2 devices = one 4-device mesh."""
    args = [
        "train",
        "digits",
        "--sizes",
        "64,16,10",
        "--batch-size",
        "32",
        "--steps",
        "60",
        "--chunk-size",
        "20",
        "--json",
        "--devices",
        "4",
    ]
    results = launch_two_processes(args, tmp_path / "ck")
    if any(
        proc.returncode != 0 for proc, _, _ in results
    ):  # the free port can be taken before the coordinator binds it
        results = launch_two_processes(args, tmp_path / "ck")
    outs = []
    for proc, out, err in results:
        assert proc.returncode == 0, err[-3000:]
        outs.append(json.loads(out))  # gloo's "[Gloo] Rank k is connected" lines go to stderr
        assert "[Gloo]" in err
    single = python(
        """
        import io, json, contextlib
        from jaxmlp.cli import main
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            main(["train", "digits", "--sizes", "64,16,10", "--batch-size", "32", "--steps", "60", "--json"])
        print(buf.getvalue().replace("\\n", " "))
        """,
        devices=1,
        extra_env={"JAXMLP_CACHE_DIR": ""},
    )
    assert (
        outs[0]["final_loss"] == outs[1]["final_loss"]
    )  # both processes hold the same replicated result
    assert outs[0]["final_loss"] == pytest.approx(single["final_loss"], rel=1e-4)
    assert outs[0]["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=1 / 450 + 1e-9)
    assert (tmp_path / "ck" / "checkpoint.npz").is_file()


@thorough_only
def test_bad_coordinator_settings_are_usage_errors():

    base = ["train", "xor", "--coordinator", "127.0.0.1:1", "--num-processes", "2"]
    r = run_process(*base)
    assert_one_line_error(
        r.returncode, r.stderr, "a coordinator needs the number of processes and this process's id"
    )
    r = run_process(*base, "--process-id", "5")
    assert_one_line_error(r.returncode, r.stderr, "process id must lie in [0, 2), got 5")

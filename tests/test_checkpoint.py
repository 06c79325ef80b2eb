"""Checkpoints: round trip, and a clear refusal of every damaged, foreign or mismatched file."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmlp
from jaxmlp.io import checkpoint as ckpt
from tests.settings import thorough_only

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

NET = jaxmlp.MLP((3, 4, 2), activation="tanh")
with jax.enable_x64(True):  # the module's float64 fixtures, made in the scope its tests run in
    PARAMS = NET.init(jax.random.key(0), jnp.float64)
    OPT = jaxmlp.named_optimizer("adam")
    STATE = OPT.init(PARAMS)


def saved(tmp_path):
    ckpt.save(
        tmp_path,
        net=NET,
        params=PARAMS,
        opt_state=STATE,
        step=7,
        key=jax.random.key(5),
        extra={"optimizer": "adam"},
    )
    return tmp_path / ckpt.FILENAME


def test_round_trip_is_exact(tmp_path):
    saved(tmp_path)
    c = ckpt.load(tmp_path, net=NET, opt_state_template=STATE)
    assert c.step == 7 and c.net == NET and c.metadata["extra"]["optimizer"] == "adam"
    jax.tree_util.tree_map(np.testing.assert_array_equal, c.params, PARAMS)
    jax.tree_util.tree_map(np.testing.assert_array_equal, c.opt_state, STATE)
    assert np.array_equal(jax.random.key_data(c.key), jax.random.key_data(jax.random.key(5)))


def test_no_pickle_anywhere(tmp_path):
    with zipfile.ZipFile(saved(tmp_path)) as z:
        for name in z.namelist():
            header = z.read(name)[:128]
            assert b"'descr': '|O'" not in header and b"descr': 'O" not in header, name


def test_truncated_file_is_refused(tmp_path):
    path = saved(tmp_path)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ckpt.CheckpointError, match="is damaged"):
            ckpt.load(tmp_path, net=NET, opt_state_template=STATE)


def test_flipped_bit_is_refused(tmp_path):
    path = saved(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("params/0/w.npy")
    offset = (
        info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 3
    )  # inside the array data
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="damaged"):
        ckpt.load(tmp_path, net=NET, opt_state_template=STATE)


def rewrite_metadata(path, change):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["metadata"].tobytes())
    change(meta)
    meta_bytes = json.dumps(meta, sort_keys=True).encode()
    arrays["metadata"] = np.frombuffer(meta_bytes, np.uint8)
    digest = ckpt._digest(
        meta_bytes, {k: v for k, v in arrays.items() if k not in ("metadata", "sha256")}
    )
    arrays["sha256"] = np.frombuffer(digest.encode(), np.uint8)
    np.savez(path, **arrays)


def test_wrong_version_is_refused(tmp_path):
    path = saved(tmp_path)
    rewrite_metadata(path, lambda m: m.update(version=99))
    with pytest.raises(
        ckpt.CheckpointError, match="format version 99; this jaxmlp reads version 1"
    ):
        ckpt.load(tmp_path, net=NET)


def test_wrong_architecture_is_refused(tmp_path):
    saved(tmp_path)
    other = jaxmlp.MLP((3, 5, 2), activation="tanh")
    with pytest.raises(
        ckpt.CheckpointError,
        match=r"different network: it holds sizes 3,4,2 .* this run asks for sizes 3,5,2",
    ):
        ckpt.load(tmp_path, net=other)
    with pytest.raises(
        ckpt.CheckpointError, match="optimizer-state arrays; this run's optimizer has"
    ):
        ckpt.load(
            tmp_path, net=NET, opt_state_template=jaxmlp.named_optimizer("momentum").init(PARAMS)
        )


def test_edited_shapes_are_refused(tmp_path):
    path = saved(tmp_path)
    rewrite_metadata(path, lambda m: m["config"].update(sizes=[3, 4, 3]))
    with pytest.raises(
        ckpt.CheckpointError,
        match=r"holds parameters that do not fit its network: params\[1\]\['b'\] must have shape \(3,\)",
    ):
        ckpt.load(tmp_path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint at"):
        ckpt.load(tmp_path)
    np.savez(tmp_path / ckpt.FILENAME, a=np.ones(3))
    with pytest.raises(ckpt.CheckpointError, match="not a jaxmlp checkpoint"):
        ckpt.load(tmp_path)


WRITER = """
import sys, jax, jax.numpy as jnp, jaxmlp
from jaxmlp.io import checkpoint
net = jaxmlp.MLP((1000, 1000, 10))
params = net.init(jax.random.key(0))
checkpoint.save(sys.argv[1], net=net, params=params, opt_state=None, step=0, key=jax.random.key(0))
print("first", flush=True)
step = 1
while True:
    checkpoint.save(sys.argv[1], net=net, params=params, opt_state=None, step=step, key=jax.random.key(0))
    step += 1
"""


@thorough_only
def test_sigkill_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path):
    net = jaxmlp.MLP((1000, 1000, 10))
    for delay in (0.05, 0.2, 0.45):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "first"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        c = ckpt.load(tmp_path, net=net)
        assert c.params[0]["w"].shape == (1000, 1000)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != ckpt.FILENAME]
    assert all(
        name.endswith(".tmp") for name in leftovers
    )  # a killed writer may leave its temporary file, never a half checkpoint


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_written_files_get_the_permissions_open_would_give(tmp_path, mask):
    """Models, reports, pages and checkpoints are written atomically through atomic_open; the file
    gets 0o666 less the umask (as open() would), not the temporary file's private 0o600, and a
    file that exists keeps its mode."""
    from jaxmlp.io.atomic import write_text

    old = os.umask(mask)
    try:
        write_text(tmp_path / "page.html", "<p>")
        saved(tmp_path / "ck")
        (tmp_path / "kept.txt").write_text("x")
        os.chmod(tmp_path / "kept.txt", 0o640)
        write_text(tmp_path / "kept.txt", "y")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*") if p.is_file()}
    assert modes == {"page.html": 0o666 & ~mask, ckpt.FILENAME: 0o666 & ~mask, "kept.txt": 0o640}

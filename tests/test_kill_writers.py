"""Writers killed at any moment leave the old or the complete new data, and no litter
once the next write has run (fabnb.io.store.atomic_path and recover).

A helper process imports fabnb once and forks one writer per kill, so a kill costs a
fork, not an interpreter start.  The helper does no file IO itself before forking
(zarr's and HDF5's threads and locks do not survive a fork); the test process reads and
checks.  Kill moments are drawn from a seeded generator, scaled by how long one write
takes on this machine (the scale only spreads the kills; nothing asserts on time).
"""

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fabnb
import fabnb.io as fio

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill helper forks writers")

KILLS = 10
#: the helper: reads one command per line, answers one line per command
HELPER = r'''
import os, pickle, signal, sys, time
from pathlib import Path
import fabnb, fabnb.io as fio
import h5netcdf, zarr  # imported here, not in every child; no file is opened before a fork
from fabnb.io import store

with open(sys.argv[1], "rb") as fh:  # the test's own datasets, bit for bit
    DATA = pickle.load(fh)
TEXT = {"old": "old " * 500_000, "new": "new " * 500_000}  # the report's HTML page, ~2 MB

def write(kind, which, target):
    if kind == "text":  # how fabnb.report writes its HTML and notebook
        with fio.atomic_path(target) as tmp:
            tmp.write_text(TEXT[which], encoding="utf-8")
    else:
        getattr(fio, f"write_{kind}")(DATA[which], target)

def child(mode, kind, target, arg):
    if mode == "between":  # die right after the swap's first rename
        real = os.replace
        def replace(src, dst):
            real(src, dst)
            if Path(src) == Path(target):
                os.kill(os.getpid(), signal.SIGKILL)
        store.os.replace = replace
    if mode == "full":  # a disk that fills up: writes past `arg` bytes fail with EFBIG
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(arg), int(arg)))
        try:
            write(kind, "new", target)
        except BaseException:
            os._exit(3)
        os._exit(0)
    for i in range(10**6):  # alternate until killed: the target is always OLD or NEW
        write(kind, "new" if i % 2 == 0 else "old", target)
    os._exit(0)

print("ready", flush=True)
for line in sys.stdin:
    mode, kind, target, arg = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            child(mode, kind, target, arg)
        finally:
            os._exit(4)
    if mode == "random":
        time.sleep(float(arg))
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    print("done", os.waitstatus_to_exitcode(status), flush=True)
'''


@pytest.fixture(scope="module")
def data():
    old = fabnb.synth.fab("small", seed=0).isel(wafer=slice(0, 3))
    return {"old": old, "new": old.assign(value=old["value"] + 1.0)}


@pytest.fixture(scope="module")
def helper(data, tmp_path_factory):
    pickled = tmp_path_factory.mktemp("kill") / "data.pkl"
    pickled.write_bytes(pickle.dumps(data))
    proc = subprocess.Popen([sys.executable, "-c", HELPER, str(pickled)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"

    def ask(mode, kind, target, arg=0):
        proc.stdin.write(f"{mode} {kind} {target} {arg}\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().split()
        assert answer[0] == "done", answer
        return int(answer[1])

    yield ask
    proc.stdin.close()
    proc.wait(timeout=60)


WRITERS = {  # kind -> (file name, read back)
    "zarr": ("lot.zarr", fio.read_zarr),
    "netcdf": ("lot.nc", fio.read_netcdf),
    "text": ("report.html", lambda p: Path(p).read_text(encoding="utf-8")),
}


def _write(kind, value, target):
    if kind == "text":
        with fio.atomic_path(target) as tmp:
            tmp.write_text(value, encoding="utf-8")
    else:
        getattr(fio, f"write_{kind}")(value, target)


def _versions(kind, data):
    if kind == "text":
        return {"old": "old " * 500_000, "new": "new " * 500_000}
    return data


def _which(kind, got, versions) -> str:
    """'old' or 'new' when ``got`` is exactly one of them (read back from the file that
    stores it exactly), else fail."""
    for name, want in versions.items():
        if (got == want) if kind == "text" else got.identical(want):
            return name
    pytest.fail(f"{kind}: the target holds neither the old nor the complete new data")


def _litter(folder: Path, keep: str) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


@pytest.mark.parametrize("kind", list(WRITERS))
def test_random_kills_leave_old_or_new_data_and_no_litter_after_the_next_write(tmp_path, helper, data, kind):
    name, read = WRITERS[kind]
    target = tmp_path / name
    versions = _versions(kind, data)
    _write(kind, versions["old"], target)
    started = time.perf_counter()
    _write(kind, versions["old"], target)  # timed warm: the first call also imports
    scale = 1.5 * (time.perf_counter() - started) + 0.1  # a kill window of one to two writes
    rng = np.random.default_rng(2026)
    for delay in rng.uniform(0, scale, KILLS):  # each writer starts where the last one died
        assert helper("random", kind, target, f"{delay:.4f}") == -signal.SIGKILL
        _which(kind, read(target), versions)
    _write(kind, versions["new"], target)  # the next successful write ...
    assert _litter(tmp_path, name) == []  # ... leaves nothing else in the folder
    assert _which(kind, read(target), versions) == "new"


@pytest.mark.parametrize("recover_by", ["read", "write"])
def test_kill_between_the_two_renames_of_the_zarr_swap(tmp_path, helper, data, recover_by):
    target = tmp_path / "lot.zarr"
    fio.write_zarr(data["old"], target)
    assert helper("between", "zarr", target) == -signal.SIGKILL
    assert not target.exists()  # the kill hit the window: old store aside, new one in a temp
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == [".fabnb", ".old", ".tmp"]
    if recover_by == "write":
        fio.write_netcdf(data["new"], tmp_path / "other.nc")  # any write in the folder recovers
        assert target.is_dir()
    assert fio.read_zarr(target).identical(data["old"])
    assert _litter(tmp_path, "lot.zarr") == ([] if recover_by == "read" else ["other.nc"])


@pytest.mark.parametrize("kind", ["zarr", "netcdf"])
def test_a_full_disk_leaves_the_old_data_and_no_litter(tmp_path, helper, data, kind):
    name, read = WRITERS[kind]
    target = tmp_path / name
    _write(kind, data["old"], target)
    code = helper("full", kind, target, 16_384)
    assert code != 0  # the write failed: raised (3), or HDF5 crashed the writer
    assert read(target).identical(data["old"])
    if code == 3:  # a writer that raised cleans up after itself
        assert _litter(tmp_path, name) == []
    _write(kind, data["new"], target)  # a crashed one: the next write does
    assert _litter(tmp_path, name) == []


@pytest.mark.timeout(300)
def test_a_killed_report_run_keeps_the_old_report_and_the_next_run_leaves_no_litter(tmp_path):
    """The real runner killed while its kernel works (the notebook's temporary is open),
    at a seeded random moment: the old HTML and notebook stay; the next run clears up."""
    psutil = pytest.importorskip("psutil")
    from _templates import write_template

    from fabnb.report import run

    template = write_template(tmp_path / "nap.ipynb", 'flag = ""\nnap = 0.0\n',
                              'if flag:\n    open(flag, "w").close()\nimport time\ntime.sleep(nap)')
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.html").write_text("old html")
    (out / "r.ipynb").write_text("old notebook")
    flag = tmp_path / "running"
    script = Path(sys.executable).with_name("fabnb")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "fabnb.cli"]
    proc = subprocess.Popen(command + ["report", str(template), "-p", "flag", str(flag), "-p", "nap", "120",
                                       "-o", str(out / "r.html")], stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # wait (bounded) until the kernel runs the template's cells
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert flag.exists(), "the report never reached its cells"
        time.sleep(np.random.default_rng(7).uniform(0, 0.5))
    finally:
        kernels = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        proc.kill()
        proc.wait()
        for kernel in kernels:  # the kernel would outlive its killed runner
            with contextlib.suppress(psutil.NoSuchProcess):
                kernel.kill()
                kernel.wait(30)
    assert (out / "r.html").read_text() == "old html"
    assert (out / "r.ipynb").read_text() == "old notebook"
    assert any(p.name.startswith(".tmp-") for p in out.iterdir())  # the killed run's temporary notebook
    run(template, {}, output=out / "r.html")
    assert sorted(p.name for p in out.iterdir()) == ["r.html", "r.ipynb"]
    assert "Tiny report" in (out / "r.html").read_text(encoding="utf-8")

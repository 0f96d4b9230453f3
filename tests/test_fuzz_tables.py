"""Fuzz the G85/E142 and long-table readers with mutated real files.

Each mutated file must either read (a validated Dataset) or raise FabDataError naming
the file -- never another exception type -- and no read may take more than 1 GB
(tracemalloc peak).  Seeded and bounded: a fixed number of mutations per source.
"""

import gzip
import re
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_dataset

import fabnb.io as fio
from fabnb.errors import FabDataError

SEED = 20260
EXTREMES = ["", "nan", "-nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "1e-320",
            "99999999999999999999", "-99999999999999999999", "9" * 400, "0x1F", "1_000",
            "\u00e9", "&amp;", "NaN", " "]
MAX_PEAK = 1e9


def _mutate_bytes(raw: bytes, rng) -> tuple[bytes, str]:
    """Flip 1-8 random bytes, or truncate at a random offset."""
    if rng.random() < 0.3:
        cut = int(rng.integers(0, len(raw)))
        return raw[:cut], f"truncated at byte {cut}"
    out = bytearray(raw)
    where = rng.integers(0, len(raw), size=int(rng.integers(1, 9)))
    for k in where:
        out[k] = int(rng.integers(0, 256))
    return bytes(out), f"bytes changed at {sorted(where.tolist())}"


def _replace_attribute(text: str, rng, k: int) -> tuple[str, str]:
    """One random XML attribute value replaced by the extreme ``k`` (each is tried)."""
    spans = [m.span(1) for m in re.finditer(r'="([^"]*)"', text)]
    a, b = spans[int(rng.integers(0, len(spans)))]
    value = EXTREMES[k % len(EXTREMES)]
    return text[:a] + value + text[b:], f"attribute at {a} -> {value!r}"


def _replace_cell(text: str, rng, k: int) -> tuple[str, str]:
    """One random CSV cell (header included) replaced by the extreme ``k``."""
    lines = text.split("\n")
    i = int(rng.integers(0, len(lines) - 1))
    cells = lines[i].split(",")
    j = int(rng.integers(0, len(cells)))
    cells[j] = EXTREMES[k % len(EXTREMES)]
    lines[i] = ",".join(cells)
    return "\n".join(lines), f"line {i} cell {j} -> {cells[j]!r}"


def _check_read(read, path, what):
    """``read(path)`` gives a Dataset or a FabDataError naming the file, within 1 GB; True when it read."""
    tracemalloc.reset_peak()
    read_ok = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # summaries disagreeing, duplicates collapsed, ...
            read(path)
    except FabDataError as err:
        assert path.name in str(err), f"{what}: FabDataError without the file name: {err}"
        read_ok = False
    except Exception as err:  # noqa: BLE001  (the point: no foreign exception type)
        pytest.fail(f"{what}: {type(err).__name__}: {err}")
    peak = tracemalloc.get_traced_memory()[1]
    assert peak < MAX_PEAK, f"{what}: {peak / 1e9:.2f} GB"
    return read_ok


@pytest.fixture
def traced():
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.fixture
def g85_samples(shared_data):
    folder = shared_data / "g85"
    if not folder.is_dir():
        pytest.skip(f"shared G85 samples absent ({folder})")
    return [folder / "ex.xml", folder / "ex2.xml"]


def _fuzz_g85(source, n, rng, path):
    """Read ``n`` mutations of ``source``; the outcomes (True: read, False: refused)."""
    raw = source.read_bytes()
    outcomes = []
    for k in range(n):
        if k % 2:
            data, what = _mutate_bytes(raw, rng)
        else:
            text, what = _replace_attribute(raw.decode("utf-8"), rng, k // 2)
            data = text.encode("utf-8")
        path.write_bytes(data)
        outcomes.append(_check_read(fio.read_e142, path, f"{source.name}, mutation {k}: {what}"))
    return outcomes


def test_fuzz_g85_maps(g85_samples, tmp_path, traced):
    rng = np.random.default_rng(SEED)
    for source in g85_samples:  # ASCII codes, both layouts
        outcomes = _fuzz_g85(source, 150, rng, tmp_path / "fuzzed.xml")
        assert any(outcomes) and not all(outcomes), f"{source.name}: the mutations reached only one path"


def test_fuzz_g85_maps_written_by_fabnb(tmp_path, traced):
    ds = make_dataset(n_wafers=3)  # several <Map>s, Decimal codes, untested (Null) dies
    ds["hbin"][0, :3] = -1
    ds["hbin"][1, 2] = 17
    source = fio.write_e142(ds, tmp_path / "lot.xml")
    outcomes = _fuzz_g85(source, 100, np.random.default_rng(SEED + 2), tmp_path / "fuzzed.xml")
    assert any(outcomes) and not all(outcomes), "the mutations reached only one path"


@pytest.fixture
def long_csv(tmp_path):
    ds = make_dataset(n_wafers=2, n_tests=2)
    ds = ds.assign_coords(time=("wafer", pd.date_range("2026-01-01", periods=2).values),
                          seq=("wafer", np.array([3, 4])))
    ds["value"][0, :5, 0] = np.nan
    path = tmp_path / "source.csv"
    fio.write_table(ds, path)
    return path


def test_fuzz_long_tables(long_csv, tmp_path, traced):
    rng = np.random.default_rng(SEED + 1)
    text = long_csv.read_text()
    raw = text.encode("utf-8")
    plain, packed = tmp_path / "fuzzed.csv", tmp_path / "fuzzed.csv.gz"
    outcomes = []
    for k in range(90):
        if k % 3 == 0:
            mutated, what = _mutate_bytes(raw, rng)
        else:
            new, what = _replace_cell(text, rng, k)
            mutated = new.encode("utf-8")
        plain.write_bytes(mutated)
        outcomes.append(_check_read(fio.read_table, plain, f"mutation {k}: {what}"))
    gz = gzip.compress(raw, mtime=0)
    for k in range(30):  # compressed: truncation and corruption of the gzip stream
        mutated, what = _mutate_bytes(gz, rng)
        packed.write_bytes(mutated)
        outcomes.append(_check_read(fio.read_table, packed, f"gzip mutation {k}: {what}"))
    assert any(outcomes) and not all(outcomes), "the mutations reached only one path"

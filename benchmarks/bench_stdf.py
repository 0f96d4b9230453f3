"""STDF reading speed and memory: fabnb.io.read_stdf vs stdf-convert (Rust, bare Arrow
record tables) vs pystdf (pure Python), on a real wafer and on a 25-wafer lot made from it.

``python -m benchmarks.bench_stdf`` (needs ../shared/data/stdf/lot2.stdf; stdf-convert and
pystdf are optional).  Each reader runs in its own subprocess, so the peak resident memory
(``ru_maxrss`` above the process's size after imports and warm-up) is its own.  fabnb
produces the validated contract Dataset; stdf-convert only its record tables.
"""

import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stdf" / "lot2.stdf"
N_WAFERS = 25


def _records(data: bytes, order: str):
    pos = 0
    while pos < len(data):
        length = struct.unpack(order + "H", data[pos:pos + 2])[0]
        yield data[pos + 2], data[pos + 3], data[pos:pos + 4 + length]
        pos += 4 + length


def _cn(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw


def make_lot(sample: Path, out: Path, n_wafers: int = N_WAFERS) -> Path:
    """``n_wafers`` copies of the sample's WIR..WRR block with new wafer ids and PCR count."""
    data = sample.read_bytes()
    order = ">" if data[4] == 1 else "<"
    head, block, tail, where = [], [], [], "head"
    for typ, sub, rec in _records(data, order):
        if (typ, sub) == (2, 10):
            where = "block"
        (head if where == "head" else block if where == "block" else tail).append((typ, sub, rec))
        if (typ, sub) == (2, 20):
            where = "tail"
    with open(out, "wb") as fh:
        fh.writelines(rec for _, _, rec in head)
        for k in range(1, n_wafers + 1):
            wafer = f"LOT25-{k:02d}"
            for typ, sub, rec in block:
                if (typ, sub) == (2, 10):  # WIR: HEAD, SITE_GRP, START_T, WAFER_ID
                    body = rec[4:10] + _cn(wafer)
                elif (typ, sub) == (2, 20):  # WRR: fixed 26 bytes, WAFER_ID, the rest
                    old_len = rec[4 + 26]
                    body = rec[4:30] + _cn(wafer) + rec[4 + 27 + old_len:]
                else:
                    fh.write(rec)
                    continue
                fh.write(struct.pack(order + "HBB", len(body), typ, sub) + body)
        for typ, sub, rec in tail:
            if (typ, sub) == (1, 30):  # PCR: PART_CNT x n_wafers
                body = bytearray(rec[4:])
                count = struct.unpack_from(order + "I", body, 2)[0]
                struct.pack_into(order + "I", body, 2, count * n_wafers)
                rec = rec[:4] + bytes(body)
            fh.write(rec)
    return out


def _run_fabnb(path):
    import warnings

    import fabnb.io

    warnings.simplefilter("ignore")
    fabnb.io.read_stdf(SAMPLE)  # warm: loads the cached Numba kernel

    def run():
        ds = fabnb.io.read_stdf(path)
        return {"parts": int(ds["touchdowns"].sum()), "dies": ds.sizes["die"] * ds.sizes["wafer"],
                "results": int(ds["value"].notnull().sum())}
    return run


def _run_stdf_convert(path):
    import stdf_convert

    stdf_convert.tables(SAMPLE)

    def run():
        tables = stdf_convert.tables(path)
        return {"parts": tables["PRR"].num_rows, "results": tables["PTR"].num_rows}
    return run


def _run_pystdf(path):
    from pystdf.IO import Parser

    class Count:
        def __init__(self):
            self.n = {}

        def after_send(self, _, data):
            name = type(data[0]).__name__
            self.n[name] = self.n.get(name, 0) + 1

        def __getattr__(self, name):
            return lambda *a: None

    def run():
        sink = Count()
        with open(path, "rb") as fh:
            parser = Parser(inp=fh)
            parser.addSink(sink)
            parser.parse()
        return {"parts": sink.n.get("Prr", 0), "results": sink.n.get("Ptr", 0)}
    return run


RUNNERS = {"fabnb": _run_fabnb, "stdf-convert": _run_stdf_convert, "pystdf": _run_pystdf}


def _child(reader: str, path: str, repeat: int):
    """Inside the subprocess: warm up, then time the best of ``repeat`` reads and
    measure the peak RSS above the warmed-up process."""
    import resource

    run = RUNNERS[reader](path)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    out["seconds"] = min(times)
    out["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps(out))


def _measure(reader: str, path: Path):
    repeat = 1 if reader == "pystdf" else 3
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_stdf", "--child", reader,
                           str(path), str(repeat)], check=False, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    if not SAMPLE.exists():
        print(f"sample {SAMPLE} absent: nothing to benchmark")
        return
    with tempfile.TemporaryDirectory() as tmp:
        lot = make_lot(SAMPLE, Path(tmp) / "lot25.stdf")
        print(f"{'file':<14}{'MB':>7}  {'reader':<13}{'s':>8}{'MB/s':>9}{'dies/s':>11}"
              f"{'peak MB':>9}{'parts':>8}{'results':>10}{'x fabnb':>9}")
        for label, path in (("real wafer", SAMPLE), (f"{N_WAFERS}-wafer lot", lot)):
            mb = path.stat().st_size / 1e6
            rows = {}
            for reader in RUNNERS:
                if reader == "pystdf" and path != SAMPLE:
                    continue  # ~1/100 of the speed: minutes on the lot, shown on one wafer
                rows[reader] = _measure(reader, path)
            dies = rows["fabnb"].get("dies", 0)
            for reader, r in rows.items():
                if "error" in r or "error" in rows["fabnb"]:
                    print(f"{label:<14}{mb:7.1f}  {reader:<13} failed: {r.get('error')}")
                    continue
                ratio = r["seconds"] / rows["fabnb"]["seconds"]
                print(f"{label:<14}{mb:7.1f}  {reader:<13}{r['seconds']:8.3f}{mb / r['seconds']:9.1f}"
                      f"{dies / r['seconds']:11.0f}{r['peak_mb']:9.1f}{r['parts']:8d}"
                      f"{r['results']:10d}{ratio:9.2f}")
        print("fabnb: file -> validated contract Dataset (results = non-NaN values of the kept "
              "touchdowns); stdf-convert: every record into Arrow tables; pystdf: records parsed, "
              "counted.  'x fabnb' = time / fabnb's time.")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()

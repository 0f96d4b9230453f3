"""Single-sample virtual-metrology latency: scikit-learn ``predict`` vs ONNX Runtime.

The source quotes 20–50 ms for Python scikit-learn and 2–8 ms for ONNX Runtime per
wafer.  Here: 300 wafers × 95 trace features (the size of the small fab's feature
matrix: 5 steps × 3 parameters × 6-7 statistics), a known linear label, each model
fitted once and exported with ``export_onnx(opset=17)``; then 500 single-row
predictions each, median and 95th percentile, plus the largest |ONNX − sklearn|.
``python -m benchmarks.bench_vm``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from fabnb.vm import MODELS, VirtualMetrology, export_onnx


def _latency(fn, rows, repeat=500):
    times = np.empty(repeat)
    for i in range(repeat):
        x = rows[i % len(rows)][None, :]
        t0 = time.perf_counter()
        fn(x)
        times[i] = time.perf_counter() - t0
    return np.median(times) * 1e3, np.percentile(times, 95) * 1e3


def main(n_wafers: int = 300, n_features: int = 95, seed: int = 0):
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_wafers, n_features))
    y = 50 + X[:, :5] @ np.array([2.0, -1.5, 1.0, 0.5, -0.5]) + rng.normal(0, 0.3, n_wafers)
    print(f"{n_wafers} wafers x {n_features} features; latency of one-wafer predict (ms)")
    print(f"{'model':7s}{'sklearn p50':>13s}{'p95':>8s}{'VM.predict p50':>16s}"
          f"{'ONNX RT p50':>13s}{'p95':>8s}{'speed-up':>10s}{'max |diff|':>12s}")
    folder = Path(tempfile.mkdtemp())
    for model in MODELS:
        vm = VirtualMetrology(model, n_splits=0).fit(X, y)
        path = export_onnx(vm, folder / f"{model}.onnx", opset=17, check_X=X)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        dtype = np.float64 if inp.type == "tensor(double)" else np.float32
        rows = X.astype(dtype)
        sk50, sk95 = _latency(vm.pipeline_.predict, X)
        vm50, _ = _latency(vm.predict, X)
        ox50, ox95 = _latency(lambda x, s=sess, name=inp.name: s.run(None, {name: x}), rows)
        diff = np.abs(np.ravel(sess.run(None, {inp.name: rows})[0]) - vm.predict(X)).max()
        print(f"{model:7s}{sk50:13.3f}{sk95:8.3f}{vm50:16.3f}{ox50:13.3f}{ox95:8.3f}"
              f"{sk50 / ox50:9.1f}x{diff:12.2e}")


if __name__ == "__main__":
    main()

"""ONNX export of a fitted virtual-metrology pipeline, checked against ONNX Runtime.

Linear pipelines (scaler + PLS / ridge) take float64 input (``DoubleTensorType``), so
ONNX Runtime reproduces scikit-learn to ~1e-12.  Tree ensembles take float32 input:
scikit-learn's trees compare float32 features too, so the splits are identical, but the
``ai.onnx.ml`` TreeEnsembleRegressor sums leaves into a float32 output — a relative
error of ~1e-7 of the label (about 1e-5 absolute for labels near 100).  The check is
therefore ``|onnx − sklearn| ≤ atol + rtol·|sklearn|``.

The per-tool bias of :class:`~fabnb.vm.VirtualMetrology` is not in the graph: add
``model.tool_bias_[tool]`` after inference.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._params import HasMethods, Integral, Interval, Real, check_params
from ..errors import FabFitError
from .model import VirtualMetrology

PARAMETERS = {
    "model": [HasMethods(["fit", "predict"])],
    "opset": [Interval(Integral, 9, None, closed="left")],
    "atol": [Interval(Real, 0, None, closed="left")],
    "rtol": [Interval(Real, 0, None, closed="left")],
}


def _pipeline(model):
    """The fitted scikit-learn pipeline inside ``model``; unfitted raises ``NotFittedError``."""
    check_is_fitted(model)
    return model.pipeline_ if isinstance(model, VirtualMetrology) else model


def onnx_predict(path, X) -> np.ndarray:
    """Predictions of an exported model with ONNX Runtime (float64 input).

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> from fabnb.vm import VirtualMetrology, export_onnx
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = X.sum(axis=1)
    >>> vm = VirtualMetrology("ridge", n_splits=0).fit(X, y)
    >>> path = export_onnx(vm, os.path.join(tempfile.mkdtemp(), "vm.onnx"), opset=17)
    >>> bool(np.abs(onnx_predict(path, X) - vm.predict(X)).max() < 1e-5)
    True
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # skl2onnx's PLS/linear graphs trigger benign shape notes
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    return np.ravel(sess.run(None, {inp.name: np.ascontiguousarray(X, dtype=dtype)})[0]).astype(float)


def _is_tree(pipe) -> bool:
    final = pipe.steps[-1][1] if hasattr(pipe, "steps") else pipe
    return hasattr(final, "estimators_")


def export_onnx(model, path, opset: int, *, check_X=None, atol: float = 1e-5,
                rtol: float = 1e-6) -> str:
    """Write ``model`` (a fitted VirtualMetrology or scikit-learn pipeline) to ONNX.

    ``opset`` is required (the ONNX default-domain opset; the ``ai.onnx.ml`` domain
    gets the matching version skl2onnx supports).  With ``check_X``, ONNX Runtime
    predictions must equal scikit-learn's within ``atol + rtol·|y|`` or ``FabFitError`` is raised
    and nothing is written.  The file is written to a temporary name and renamed.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> from fabnb.vm import VirtualMetrology
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = X @ [1.0, 2.0, 0.0]
    >>> vm = VirtualMetrology("pls", n_components=2, n_splits=0).fit(X, y)
    >>> p = export_onnx(vm, os.path.join(tempfile.mkdtemp(), "vm.onnx"), opset=17, check_X=X)
    >>> os.path.exists(p)
    True
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    check_params("export_onnx", PARAMETERS, locals())
    pipe = _pipeline(model)
    n = getattr(pipe, "n_features_in_", None) or getattr(model, "n_features_in_", None)
    if n is None:
        raise FabFitError("export_onnx: cannot tell the number of input features")
    tensor = FloatTensorType if _is_tree(pipe) else DoubleTensorType
    onx = convert_sklearn(pipe, initial_types=[("X", tensor([None, n]))],
                          target_opset={"": opset, "ai.onnx.ml": 3})
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".onnx.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(onx.SerializeToString())
        if check_X is not None:
            X = np.asarray(check_X, dtype=np.float64)
            ref = np.ravel(pipe.predict(X))
            excess = np.abs(onnx_predict(tmp, X) - ref) - (atol + rtol * np.abs(ref))
            if not excess.max() <= 0:
                k = int(excess.argmax())
                raise FabFitError(f"export_onnx: ONNX Runtime differs from scikit-learn beyond "
                                  f"atol={atol}, rtol={rtol} at row {k} (sklearn {ref[k]:.9g})")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path

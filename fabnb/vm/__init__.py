"""Virtual metrology on trace features: scikit-learn pipelines with time-ordered CV,
metrology-tool bias correction, the gauge R² ceiling, and ONNX export.

>>> import fabnb
>>> fabnb.vm.VirtualMetrology("ridge").model
'ridge'
"""

from .model import MODELS, VirtualMetrology, make_pipeline
from .onnx import export_onnx, onnx_predict

__all__ = ["MODELS", "VirtualMetrology", "export_onnx", "make_pipeline", "onnx_predict"]

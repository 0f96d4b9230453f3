"""fabnb: a notebook-native analysis kit for semiconductor fab data.

>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ds.fab.yield_by_wafer().shape[0] == ds.sizes["wafer"]
True
"""

from importlib import import_module

from . import accessor as _accessor  # noqa: F401  (registers ds.fab)
from . import geometry, schema
from .errors import FabDataError, FabFitError, FabParameterError

__version__ = "0.1.0"

# Heavy subpackages load on first use so `import fabnb` stays fast.
_LAZY = {"synth", "io", "plot", "summary", "spatial", "density", "vmin", "doe", "causal", "spc", "screen", "datasets",
         "control", "metrology", "trace", "vm", "widgets", "report", "scale"}


def __getattr__(name):
    if name in _LAZY:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fabnb' has no attribute {name!r}")


def load_ipython_extension(ipython):
    """``%load_ext fabnb``: rich display of contract Datasets and the fab magics."""
    from .ext import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext fabnb``."""
    from .ext import unload_ipython_extension as unload

    unload(ipython)


__all__ = ["FabDataError", "FabFitError", "FabParameterError", "geometry", "schema", "__version__"]

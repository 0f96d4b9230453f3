"""Everything that reads or writes a contract Dataset.

- ``store``: NetCDF and Zarr with exact round trips, atomic writes, ``open_zarr`` for Dask.
- ``long``: long (narrow-tall) and wide (one row per die) tables, CSV and Parquet.
- ``stdf``: STDF V4 wafer-sort files.
- ``e142``: SEMI E142 / G85 XML wafer maps.

``read`` takes a file, a folder, a glob or a list of files of any of these and returns
one Dataset (several files: :mod:`fabnb.io._combine`).

Names load from their module on first use, so ``import fabnb.io`` stays cheap.
"""

from importlib import import_module

_EXPORTS = {
    "write_netcdf": "store", "read_netcdf": "store",
    "write_zarr": "store", "read_zarr": "store", "open_zarr": "store",
    "read": "store", "atomic_path": "store", "check_replaceable": "store", "recover": "store",
    "from_long_table": "long", "to_long_table": "long",
    "read_table": "long", "write_table": "long",
    "to_wide_table": "long", "from_wide_table": "long",
    "read_stdf": "stdf", "write_stdf": "stdf",
    "read_e142": "e142", "write_e142": "e142",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'fabnb.io' has no attribute {name!r}")


def __dir__():
    return sorted(_EXPORTS)


__all__ = sorted(_EXPORTS)

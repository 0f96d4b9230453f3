"""``ds.fab``: the fluent front door on a contract Dataset (filled in by the plot work)."""

import xarray as xr


@xr.register_dataset_accessor("fab")
class FabAccessor:
    def __init__(self, ds: xr.Dataset):
        self._ds = ds

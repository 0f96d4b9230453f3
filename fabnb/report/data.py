"""The data a report template works on: the synthetic fab or a file, validated, in one call.

Every template that analyses a contract Dataset declares ``dataset = "synthetic"`` (or a
path) next to ``preset`` and ``seed`` in its ``parameters`` cell and starts with
``ds = load_dataset(dataset, preset, seed)``, so a report runs unchanged on the embedded
synthetic fab and on a fab's own Zarr / NetCDF / CSV / STDF / E142 file.

Example
-------
>>> from fabnb.report import load_dataset, describe_dataset
>>> ds = load_dataset("synthetic", preset="small", seed=0)
>>> ds.sizes["wafer"]
18
>>> describe_dataset(ds, "synthetic", "small", 0).startswith("Data: synthetic fab")
True
"""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import FabDataError
from .escape import md_escape
from .params import SYNTHETIC, existing_path


def load_dataset(dataset=SYNTHETIC, preset="small", seed=0, **overrides):
    """The validated contract Dataset a report analyses.

    Parameters
    ----------
    dataset
        ``"synthetic"``: build ``fabnb.synth.fab(preset, seed=seed, **overrides)``;
        otherwise what :func:`fabnb.io.read` takes: a file (Zarr, NetCDF, CSV /
        Parquet table, STDF, E142), a folder of them (a lot of STDF wafer files), a glob
        (``"probe/LOT42/*.stdf.gz"``) or a list of paths; read into one Dataset and
        checked with :func:`fabnb.schema.validate`.
    preset, seed
        Size and seed of the synthetic fab (ignored for a file).
    **overrides
        Synthetic-fab options (``n_lots``, ``wafers_per_lot``, ...); ``None`` values
        are dropped.  Ignored for a file: a file is analysed as it is.

    Raises
    ------
    fabnb.FabDataError
        The path does not exist, cannot be read, or breaks the dataset contract.

    Example
    -------
    >>> load_dataset("synthetic", "small", 0, n_lots=2).sizes["wafer"]
    12
    """
    import fabnb.io
    import fabnb.schema
    import fabnb.synth

    if isinstance(dataset, (list, tuple)):
        path = [existing_path(p) for p in dataset]
    elif str(dataset) == SYNTHETIC:
        options = {k: v for k, v in overrides.items() if v is not None}
        return fabnb.synth.fab(preset, seed=seed, **options)
    elif glob.has_magic(str(dataset)) and not Path(dataset).expanduser().exists():
        path = str(dataset)  # fabnb.io.read names the glob if nothing matches
    else:
        path = existing_path(dataset)
    # no progress bar: in a report it would end up on the page (a widget or stderr text)
    return fabnb.schema.validate(fabnb.io.read(path, progress=False))


def describe_dataset(ds, dataset=SYNTHETIC, preset="small", seed=0) -> str:
    """One Markdown line for a report: where the data comes from and what it holds.

    Every string taken from the data or the user (path, product, lot ids) is escaped
    with :func:`~fabnb.report.md_escape`, so the line shows them as text.

    Example
    -------
    >>> ds = load_dataset("synthetic", "small", 0)
    >>> print(describe_dataset(ds, "synthetic", "small", 0))          # doctest: +ELLIPSIS
    Data: synthetic fab (preset 'small', seed 0) · ... · 3 lots (L0001, L0002, L0003) · 18 wafers · ...
    """
    source = (f"synthetic fab (preset {md_escape(repr(preset))}, seed {md_escape(seed)})"
              if str(dataset) == SYNTHETIC else md_escape(dataset))
    lots = list(dict.fromkeys(str(v) for v in ds["lot"].values)) if "lot" in ds.coords else []
    shown = ", ".join(map(md_escape, lots[:12]))
    shown += f", … ({len(lots) - 12} more)" if len(lots) > 12 else ""
    parts = [f"Data: {source}", md_escape(ds.attrs.get("product", "product ?")),
             f"{len(lots)} lot{'s' * (len(lots) != 1)} ({shown})", f"{ds.sizes.get('wafer', 0)} wafers",
             f"{ds.sizes.get('die', 0)} die sites", f"{ds.sizes.get('test', 0)} tests"]
    return " · ".join(parts)


def simulator_truth(ds):
    """``fabnb.synth.truth(ds)`` when ``ds`` comes from the simulator (also after a round
    trip through a file), else None: a template then skips its comparisons with the truth.

    Example
    -------
    >>> simulator_truth(load_dataset("synthetic", "small", 0))["killer"]["tool"]  # doctest: +SKIP
    'S22-C3'
    """
    import fabnb.synth

    try:
        return fabnb.synth.truth(ds)
    except FabDataError:
        return None

"""The IPython extension: ``%load_ext fabnb``.

- Contract Datasets display as a compact HTML summary (lots, wafers, tests, yield by
  lot, a mini wafer map: ``ds.fab._repr_html_()``); any other Dataset, and any lazy
  (Dask-backed) one, keeps xarray's own repr.
- ``%fab_open PATH [PATH ...] [-o NAME]`` reads any format :func:`fabnb.io.read` knows
  (a file, a folder of wafer files, a glob, or several paths) into one validated
  Dataset, returns it and optionally stores it in the user variable ``NAME``.
- ``%fab_report TEMPLATE [key=value ...] [-o OUT.html]`` runs a report template
  (:func:`fabnb.report.run`) and returns the :class:`~fabnb.report.Report`.

Example (in a notebook)
-----------------------
>>> %load_ext fabnb                                           # doctest: +SKIP
>>> %fab_open data/lot.zarr -o ds                             # doctest: +SKIP
>>> %fab_open "probe/LOT42/*.stdf" -o lot                     # doctest: +SKIP
>>> %fab_report lot_report preset=small title="Lot A" -o out/a.html   # doctest: +SKIP
"""

from __future__ import annotations

import shlex

import xarray as xr
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .errors import FabDataError
from .schema import validate


def dataset_html(ds: xr.Dataset) -> str:
    """HTML for ``ds``: the fab summary for a contract Dataset, else xarray's repr.

    A Dask-backed (lazy) Dataset keeps xarray's repr too: checking the contract and
    counting bins would compute the whole store just to display it.

    Example
    -------
    >>> import xarray as xr
    >>> "xr-wrap" in dataset_html(xr.Dataset())
    True
    """
    if ds.chunks:
        return ds._repr_html_()
    try:
        validate(ds)
    except FabDataError:
        return ds._repr_html_()
    return ds.fab._repr_html_()


@magics_class
class FabMagics(Magics):
    """``%fab_open`` and ``%fab_report``."""

    @magic_arguments()
    @argument("path", nargs="+", help="file(s), folder or glob readable by fabnb.io.read "
              "(Zarr, NetCDF, CSV, STDF, E142, ...)")
    @argument("-o", "--output", dest="name", help="store the Dataset in this user variable")
    @line_magic
    def fab_open(self, line):
        """Read PATH(s) into one validated contract Dataset:
        ``%fab_open PATH [PATH ...] [-o NAME]`` (a file, a folder, a glob, several paths)."""
        from .io import read

        # shell-like words: a quoted glob or a path with spaces is one argument
        args = self.fab_open.parser.parse_args(shlex.split(line))
        ds = validate(read(args.path if len(args.path) > 1 else args.path[0]))
        if args.name:
            self.shell.user_ns[args.name] = ds
        return ds

    @line_magic
    def fab_report(self, line):
        """Run a report: ``%fab_report TEMPLATE [key=value ...] [-o OUT.html]``.

        Values are parsed like ``fabnb report -p`` (ints, floats, true/false, none,
        ``[a, b]`` lists; strings for parameters whose default is a string).
        """
        from .report import parse_value, read_parameters, run, template_path

        words = shlex.split(line)
        output = "out/report.html"
        if "-o" in words:
            at = words.index("-o")
            if at + 1 >= len(words):
                raise FabDataError("%fab_report: -o needs an output path")
            output = words[at + 1]
            del words[at:at + 2]
        if not words:
            raise FabDataError("usage: %fab_report TEMPLATE [key=value ...] [-o OUT.html]")
        template, pairs = words[0], words[1:]
        declared = read_parameters(template_path(template))
        parameters = {}
        for pair in pairs:
            key, found, raw = pair.partition("=")
            if not found:
                raise FabDataError(f"%fab_report: expected key=value, got {pair!r}")
            parameters[key] = parse_value(raw, declared.get(key))
        report = run(template, parameters, output)
        print(f"report: {report.html}  notebook: {report.notebook}  ({report.seconds:.1f} s)")
        return report


def load_ipython_extension(ipython) -> None:
    """Register the Dataset HTML formatter and the fab magics on ``ipython``."""
    ipython.display_formatter.formatters["text/html"].for_type(xr.Dataset, dataset_html)
    ipython.register_magics(FabMagics)


def unload_ipython_extension(ipython) -> None:
    """Undo :func:`load_ipython_extension`'s formatter (magics stay, as IPython's do)."""
    ipython.display_formatter.formatters["text/html"].pop(xr.Dataset, None)

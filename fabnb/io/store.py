"""NetCDF and Zarr stores of a contract Dataset: exact round trips, atomic writes.

What "exact" means here
-----------------------
Reading back what :func:`write_netcdf` / :func:`write_zarr` wrote gives a Dataset that
is ``identical`` to the one written, and more:

- floats bit for bit, NaN payloads and ``-0.0`` included (no ``_FillValue`` masking is
  applied to float variables, so no value is ever rewritten to a canonical NaN);
- integers (bins, ``col``/``row``, ``slot``) keep their dtype;
- strings (wafer, lot, zone, unit, test, step, tool ids, ``""`` included) are stored as
  variable-length UTF-8 (NetCDF-4 ``NC_STRING``; Zarr v3 ``string``, the data type with
  a v3 spec) and come back as numpy unicode (``<U``) arrays, whatever the writer held
  (``<U``, object, numpy ``StringDType`` or pandas ``StringDtype``).  numpy unicode
  arrays cannot end a string with ``"\\x00"``: such strings are not supported;
- datetimes are stored as int64 counts of their own resolution (``"microseconds since
  1970-01-01"`` for ``datetime64[us]``) and come back with that resolution, NaT included;
- attributes: numbers and strings as themselves; attributes NetCDF cannot hold (dicts,
  lists of strings, booleans, ``None``) are stored as JSON text and decoded on read, so
  a dict attribute comes back a dict (both formats, for one behaviour).

Atomic writes
-------------
Every writer writes to a hidden temporary sibling of the target (same folder, so the
final rename never crosses a file system) through :func:`atomic_path`, then renames it
over the target.  A failed write leaves the old file as it was and no temporary behind;
a killed one leaves the old or the complete new data at the target, and the next write
(or a read) clears what it left (:func:`recover`).  A writer never replaces a path it
did not write (a folder of other files, a file of another format):
:func:`check_replaceable`.

Example
-------
>>> import os, tempfile, fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "lot.nc")
>>> fabnb.io.write_netcdf(ds, path)
>>> fabnb.io.read_netcdf(path).identical(ds)
True
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import uuid
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .._params import check_option, check_params
from ..errors import FabDataError
from ..schema import validate
from .._warn import user_stacklevel

#: attribute listing which dataset attributes were stored as JSON text
_JSON_ATTRS = "fabnb_json_attrs"
#: variable attribute marking an empty string array (zero tests: ``test``, ``unit``)
_EMPTY_STRINGS = "fabnb_empty_strings"
#: CF time units word of each numpy datetime resolution (and back)
_TIME_WORDS = {"ns": "nanoseconds", "us": "microseconds", "ms": "milliseconds", "s": "seconds"}
_TIME_RES = {word: res for res, word in _TIME_WORDS.items()}

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NETCDF3_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
#: STDF V4 starts with a FAR record: REC_LEN=2, REC_TYP=0, REC_SUB=10 (either byte order)
_STDF_MAGIC = (b"\x02\x00\x00\x0a", b"\x00\x02\x00\x0a")


# --------------------------------------------------------------------------- atomic

#: a writer's marker ``.fabnb-writer-<token>-<host>-<pid>``: made (empty) before the
#: temporary, removed once nothing of the write is left beside the target.  It is how a
#: later writer tells fabnb's litter (``.tmp-<token>-*``, ``.old-<token>-*``) of a dead
#: writer from anything else.
_MARKER = re.compile(r"^\.fabnb-writer-([0-9a-f]{12})-([0-9a-f]{8})-([0-9]+)$")
#: this machine, in markers: a pid only says "dead" about a process of the same host
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8")).hexdigest()[:8]
#: what each kind of writer may replace (see :func:`check_replaceable`)
_KINDS = {"file": "a regular file", "netcdf": "an empty or NetCDF file",
          "zarr": "an empty folder or a Zarr store fabnb wrote"}


@contextlib.contextmanager
def atomic_path(path, kind="file"):
    """Yield a temporary sibling path of ``path``; on success move it onto ``path``.

    The temporary name keeps the target's suffixes (``.tmp-<hex>-lot.csv.gz``), so
    writers that pick a format or compression from the extension behave the same.
    Whatever the writer leaves at the temporary path (a file or a directory store) is
    renamed onto ``path`` only if the ``with`` block finishes; on an exception it is
    deleted and ``path`` keeps its old content.

    Never replaces what fabnb did not write: an existing ``path`` must suit ``kind``
    (:func:`check_replaceable`), else :class:`~fabnb.FabDataError` before anything is
    written.  ``kind`` is ``"file"`` (any regular file), ``"netcdf"`` (a NetCDF file) or
    ``"zarr"`` (a Zarr store of a fabnb Dataset, or an empty folder).

    Files are fsynced before the rename.  A directory cannot be renamed over a
    non-empty directory, so an old directory store is first renamed aside
    (``.old-<hex>-<name>``), the new one moved in, then the old one deleted.

    A killed writer cannot clean up, so every write first leaves a marker
    ``.fabnb-writer-<hex>-<host>-<pid>`` beside the target and removes it last.  The
    next write in the folder (or a read of a missing target) finishes what writers of
    this host that are no longer alive left (:func:`recover`): a store renamed aside
    whose target is missing goes back to the target; temporaries are deleted.

    Example
    -------
    >>> with atomic_path("table.csv") as tmp:
    ...     df.to_csv(tmp)          # doctest: +SKIP
    """
    check_option("atomic_path", "kind", kind, _KINDS)
    target = Path(path)
    if not target.parent.is_dir():
        raise FabDataError(f"cannot write {target}: folder {target.parent} does not exist")
    recover(target.parent)
    check_replaceable(target, kind)
    token = uuid.uuid4().hex[:12]
    marker = target.with_name(f".fabnb-writer-{token}-{_HOST}-{os.getpid()}")
    tmp = target.with_name(f".tmp-{token}-{target.name}")
    aside = target.with_name(f".old-{token}-{target.name}")
    marker.touch(exist_ok=False)
    try:
        yield tmp
        if not tmp.exists():
            raise FabDataError(f"writer produced nothing at the temporary path {tmp}")
        check_replaceable(target, kind)  # something may have appeared there meanwhile
        _commit(tmp, target, aside)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        if not (os.path.lexists(tmp) or os.path.lexists(aside)):  # else: litter to recover
            marker.unlink(missing_ok=True)


def check_replaceable(path, kind="file") -> None:
    """Raise :class:`~fabnb.FabDataError` naming ``path`` unless a ``kind`` writer may
    replace it: it does not exist, or it is what such a writer makes.

    - ``"file"``: a regular file (never a folder or a symbolic link);
    - ``"netcdf"``: an empty file or a NetCDF file (HDF5 or classic magic);
    - ``"zarr"``: an empty folder or a Zarr store whose root carries the contract's
      ``schema_version`` attribute (a store fabnb wrote).

    Example
    -------
    >>> check_replaceable("my_project", kind="zarr")   # doctest: +SKIP
    Traceback (most recent call last):
    ...
    fabnb.errors.FabDataError: cannot write my_project: it is a folder that is not ...
    """
    check_option("check_replaceable", "kind", kind, _KINDS)
    p = Path(path)
    if not os.path.lexists(p):
        return
    if p.is_symlink():
        found = "a symbolic link"
    elif kind == "zarr":
        if p.is_dir() and (_is_fabnb_zarr(p) or not any(p.iterdir())):
            return
        found = "a folder that is not a Zarr store of a fabnb Dataset" if p.is_dir() else "a file"
    elif p.is_dir():
        found = "a folder"
    elif not p.is_file():
        found = "not a regular file"
    elif kind == "netcdf" and p.stat().st_size and not _head(p).startswith((_HDF5_MAGIC, *_NETCDF3_MAGIC)):
        found = "a file that is not NetCDF"
    else:
        return
    raise FabDataError(
        f"cannot write {p}: it is {found}, and this writer replaces only {_KINDS[kind]} "
        f"(fabnb never replaces what it did not write); remove or rename it, or write to another path"
    )


def _is_fabnb_zarr(p: Path) -> bool:
    """A Zarr group (v3 ``zarr.json`` or v2 ``.zattrs``) holding a contract Dataset."""
    try:
        if (p / "zarr.json").is_file():
            attrs = json.loads((p / "zarr.json").read_text(encoding="utf-8")).get("attributes", {})
        elif (p / ".zgroup").is_file():
            attrs = json.loads((p / ".zattrs").read_text(encoding="utf-8"))
        else:
            return False
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attrs, dict) and "schema_version" in attrs


def _commit(tmp: Path, target: Path, aside: Path) -> None:
    if tmp.is_file():
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    if target.is_dir() and not target.is_symlink():
        os.replace(target, aside)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(aside, target)  # put the old store back
            raise
        _remove(aside)
    else:
        os.replace(tmp, target)


def recover(folder) -> list[Path]:
    """Finish, in ``folder``, the writes of fabnb writers that died (killed, power cut).

    Only what a marker ``.fabnb-writer-<hex>-<host>-<pid>`` of this host names, and only
    when process ``pid`` is no longer alive, is touched: an old store renamed aside
    (``.old-<hex>-<name>``) goes back to ``<name>`` when ``<name>`` is missing and the
    new store is still in its temporary (the kill fell between the two renames of the
    swap), and is deleted otherwise (the swap was done); temporaries
    (``.tmp-<hex>-<name>``) are deleted; then the marker.  Anything else, including
    the litter of live writers, stays.  Errors (a read-only folder) leave things as they
    are.  Returns the targets restored.

    Example
    -------
    >>> recover("out")                                  # doctest: +SKIP
    [PosixPath('out/lot.zarr')]
    """
    folder = Path(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    restored = []
    for name in names:
        found = _MARKER.match(name)
        if not found or found[2] != _HOST or _alive(int(found[3])):
            continue
        tmp, old = f".tmp-{found[1]}-", f".old-{found[1]}-"
        with contextlib.suppress(OSError):
            for other in names:
                target = folder / other[len(old):]
                # old store aside + new one still in its temporary: killed between the renames
                if (other.startswith(old) and tmp + target.name in names
                        and not os.path.lexists(target)):
                    os.rename(folder / other, target)
                    restored.append(target)
                elif other.startswith((tmp, old)):
                    _remove(folder / other)
            (folder / name).unlink()
    return restored


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host may still be running (True when unsure)."""
    if pid == os.getpid() or os.name != "posix":  # no safe liveness probe elsewhere
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


# --------------------------------------------------------------------------- encoding


def _is_string(arr) -> bool:
    kind = arr.dtype.kind
    if kind in "UT":
        return True
    if kind == "O":  # object arrays (pandas strings) count when they hold str
        values = np.asarray(arr.values if hasattr(arr, "values") else arr).ravel()
        return values.size > 0 and isinstance(values[0], str)
    return str(arr.dtype) in ("string", "str")  # pandas' StringDtype


def _for_disk(ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    """The Dataset as written, and the per-variable encoding that makes it exact."""
    encoding, replaced = {}, {}
    for name, var in ds.variables.items():
        new = var
        if var.dtype.kind == "f":
            encoding[name] = {"_FillValue": None}  # no masking: NaN payloads survive
        elif var.dtype.kind == "M":
            res = np.datetime_data(var.dtype)[0]
            if res not in _TIME_WORDS:  # e.g. datetime64[D]: store as nanoseconds
                res, new = "ns", var.astype("M8[ns]")
            encoding[name] = {"units": f"{_TIME_WORDS[res]} since 1970-01-01", "dtype": "int64"}
        elif var.chunks is None and _is_string(var):
            new = var.astype(object)  # variable-length strings on disk
        attrs = _encode_attrs(var.attrs)
        if var.size == 0 and _is_string(var):  # an empty string array reads back as float64
            attrs = {**attrs, _EMPTY_STRINGS: 1}
        if new is not var or attrs is not var.attrs:
            new = new.copy(deep=False)
            new.attrs = attrs
            replaced[name] = new
    out = _replace(ds.drop_encoding(), replaced)
    out.attrs = _encode_attrs(ds.attrs)
    return out, encoding


def _from_disk(ds: xr.Dataset) -> xr.Dataset:
    """Undo :func:`_for_disk`: unicode strings, original time resolution, attrs."""
    replaced = {}
    for name, var in ds.variables.items():
        new = var
        if var.dtype.kind == "M":
            word = str(var.encoding.get("units", "")).split(" since ")[0]
            res = _TIME_RES.get(word)
            if res and np.datetime_data(var.dtype)[0] != res:
                new = var.astype(f"M8[{res}]")
        elif var.chunks is None and var.dtype.kind != "U" and _is_string(var):
            new = var.copy(data=_to_unicode(var.values))
        elif _EMPTY_STRINGS in var.attrs:
            new = var.copy(data=np.empty(var.shape, dtype="<U1"))
        attrs = _decode_attrs(var.attrs if _EMPTY_STRINGS not in var.attrs else
                              {k: v for k, v in var.attrs.items() if k != _EMPTY_STRINGS})
        if new is not var or attrs is not var.attrs:
            new = new.copy(deep=False)
            new.attrs = attrs
            replaced[name] = new
    ds = _replace(ds, replaced)
    ds.attrs = _decode_attrs(ds.attrs)
    return ds


def _replace(ds: xr.Dataset, variables: dict) -> xr.Dataset:
    """``ds`` with some coordinates / data variables swapped for new ones."""
    ds = ds.assign_coords({k: v for k, v in variables.items() if k in ds.coords})
    for name, var in variables.items():
        if name not in ds.coords:
            ds[name] = var
    return ds


def _json_ready(value) -> bool:
    return isinstance(value, (bool, np.bool_, dict, list, tuple)) or value is None


def _encode_attrs(attrs: dict) -> dict:
    """Attributes NetCDF can hold: JSON text for dicts, lists, booleans and None.

    Returns ``attrs`` itself when nothing needs encoding.
    """
    as_json = [key for key, val in attrs.items() if _json_ready(val)]
    if not as_json:
        return attrs
    out = {k: (json.dumps(v, default=_plain) if k in as_json else v) for k, v in attrs.items()}
    out[_JSON_ATTRS] = json.dumps(as_json)
    return out


def _decode_attrs(attrs: dict) -> dict:
    """Undo :func:`_encode_attrs`; returns ``attrs`` itself when nothing was encoded."""
    if _JSON_ATTRS not in attrs:
        return attrs
    out = dict(attrs)
    for key in json.loads(out.pop(_JSON_ATTRS)):
        out[key] = json.loads(out[key])
    return out


def _plain(value):
    """JSON-ready form of numpy scalars and arrays inside attributes."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"attribute value {value!r} cannot be stored")


def _to_unicode(values) -> np.ndarray:
    """numpy unicode array of the strings in ``values`` (object or ``StringDType``)."""
    obj = np.asarray(values).astype(object)
    width = max((len(s) for s in obj.ravel()), default=1)
    return obj.astype(f"<U{max(width, 1)}")


def _checked(ds: xr.Dataset, path, coords_only: bool = False) -> xr.Dataset:
    """Validate, prefixing any contract violation with the file it came from."""
    try:
        return _validate_coords(ds) if coords_only else validate(ds)
    except FabDataError as err:
        raise FabDataError(f"{path}: not a fabnb contract Dataset: {err}") from err


def _validate_coords(ds: xr.Dataset) -> xr.Dataset:
    """Validate names, dims, dtypes, coordinates and attrs without loading lazy data.

    Dask-backed data variables are replaced by zero-stride stand-ins of their dtype
    (0.0, bin 1, ``""``) for the check, so only coordinates are read.
    """
    stand_in = ds.copy()
    for name, var in ds.data_vars.items():
        if var.chunks is not None:
            fill = {"f": 0.0, "i": 1, "u": 1}.get(var.dtype.kind, "")
            scalar = np.array(fill, dtype=var.dtype if var.dtype.kind in "fiuU" else object)
            stand_in[name] = (var.dims, np.broadcast_to(scalar, var.shape))
    validate(stand_in)
    return ds


def _is_lazy(ds: xr.Dataset) -> bool:
    return any(v.chunks is not None for v in ds.data_vars.values())


def _check_before_write(ds: xr.Dataset) -> None:
    if not isinstance(ds, xr.Dataset):
        raise FabDataError(f"expected an xarray.Dataset to write, got {type(ds).__name__}")
    _validate_coords(ds) if _is_lazy(ds) else validate(ds)


def _existing(path) -> Path:
    """``path`` as a Path; a target that a killed writer left renamed aside is restored
    first (:func:`recover`)."""
    p = Path(path)
    if not p.exists() and p.parent.is_dir():
        recover(p.parent)
    if not p.exists():
        aside = sorted(p.parent.glob(f".old-*-{glob.escape(p.name)}")) if p.parent.is_dir() else []
        hint = f" (a killed writer left the old data at {aside[0]})" if aside else ""
        raise FabDataError(f"{p}: no such file or directory{hint}")
    return p


# --------------------------------------------------------------------------- NetCDF


def write_netcdf(ds: xr.Dataset, path) -> None:
    """Write a contract Dataset to a NetCDF-4 (HDF5) file, atomically.

    The Dataset is validated first; the file is written through :func:`atomic_path`
    with xarray's ``h5netcdf`` engine.  See the module docstring for what round-trips.

    Example
    -------
    >>> fabnb.io.write_netcdf(ds, "lot.nc")          # doctest: +SKIP
    """
    _check_before_write(ds)
    out, encoding = _for_disk(ds)
    with atomic_path(path, kind="netcdf") as tmp:
        out.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)


def read_netcdf(path) -> xr.Dataset:
    """Read a NetCDF file (NetCDF-4/HDF5, or classic NetCDF-3) into a validated Dataset.

    The file is read into memory and closed.  A file that is not NetCDF, or whose
    content breaks the contract, raises :class:`~fabnb.FabDataError` naming the path
    and the problem.

    Example
    -------
    >>> ds = fabnb.io.read_netcdf("lot.nc")           # doctest: +SKIP
    """
    p = _existing(path)
    head = _head(p)
    if head.startswith(_HDF5_MAGIC):
        engine = "h5netcdf"
    elif head.startswith(_NETCDF3_MAGIC):
        engine = "scipy"
    else:
        raise FabDataError(f"{p}: not a NetCDF file (starts with {head[:8]!r})")
    try:
        with xr.open_dataset(p, engine=engine) as opened:
            ds = opened.load()
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise FabDataError(f"{p}: cannot read as NetCDF ({type(err).__name__}: {err})") from err
    return _checked(_from_disk(ds), p)


# --------------------------------------------------------------------------- Zarr


def write_zarr(ds: xr.Dataset, path) -> None:
    """Write a contract Dataset to a Zarr v3 directory store, atomically.

    Data variables with a ``wafer`` dim are chunked one wafer per chunk (the unit
    :func:`open_zarr` hands to Dask).  A Dask-backed Dataset (from :func:`open_zarr`)
    is written chunk by chunk without loading it whole; it is then validated on its
    coordinates only.  Strings use the Zarr v3 ``string`` data type.

    Example
    -------
    >>> fabnb.io.write_zarr(ds, "lot.zarr")           # doctest: +SKIP
    """
    _check_before_write(ds)
    out, encoding = _for_disk(ds)
    for name, var in out.data_vars.items():
        if "wafer" in var.dims:
            encoding.setdefault(name, {})["chunks"] = tuple(
                1 if dim == "wafer" else size for dim, size in zip(var.dims, var.shape)
            )
            if var.chunks is not None:  # Dask chunks must match the stored ones
                out[name] = var.chunk({dim: 1 if dim == "wafer" else -1 for dim in var.dims})
    with atomic_path(path, kind="zarr") as tmp:
        out.to_zarr(tmp, mode="w-", zarr_format=3, consolidated=False, encoding=encoding)


def _open_zarr_store(path, chunks) -> xr.Dataset:
    p = _existing(path)
    if not _is_zarr_dir(p):
        raise FabDataError(f"{p}: not a Zarr store (no zarr.json or .zgroup inside)")
    try:
        return xr.open_zarr(p, chunks=chunks, consolidated=False)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise FabDataError(f"{p}: cannot read as Zarr ({type(err).__name__}: {err})") from err


def read_zarr(path) -> xr.Dataset:
    """Read a Zarr store (v3, or v2) fully into memory as a validated Dataset.

    Example
    -------
    >>> ds = fabnb.io.read_zarr("lot.zarr")           # doctest: +SKIP
    """
    ds = _open_zarr_store(path, chunks=None).load()
    return _checked(_from_disk(ds), path)


def open_zarr(path, chunks=None) -> xr.Dataset:
    """Open a Zarr store lazily, data variables backed by Dask arrays.

    Coordinates and string variables (labels: ids, units, tools) are loaded; numeric
    data variables stay lazy, chunked ``chunks`` (default ``{"wafer": 1}``, the
    layout :func:`write_zarr` stores; ``"auto"`` lets Dask choose).  Validation
    touches coordinates only, so opening a store of any size is cheap.  Map over
    wafers with ``xr.apply_ufunc(..., dask="parallelized")`` and ``.compute()``.

    Example
    -------
    >>> lazy = fabnb.io.open_zarr("lot.zarr")         # doctest: +SKIP
    >>> lazy["value"].mean("die").compute()           # doctest: +SKIP
    """
    if chunks is None:
        chunks = {"wafer": 1}
    ds = _open_zarr_store(path, chunks=None)  # lazily indexed, nothing read yet
    labels = _label_names(ds)
    ds = ds.assign_coords({n: ds[n].load() for n in labels if n in ds.coords})
    for name in list(ds.data_vars):
        var = ds[name].variable
        if name in labels:
            ds[name] = var.load()
        elif isinstance(chunks, dict):
            ds[name] = var.chunk({d: c for d, c in chunks.items() if d in var.dims})
        else:
            ds[name] = var.chunk(chunks)
    return _checked(_from_disk(ds), path, coords_only=True)


def _label_names(ds: xr.Dataset) -> list[str]:
    """Coordinates and string-typed data variables: small, and needed as numpy."""
    names = list(ds.coords)
    for name, var in ds.data_vars.items():
        if var.dtype.kind in "OTU" or str(var.dtype).startswith("Str"):
            names.append(name)
    return names


def _is_zarr_dir(p: Path) -> bool:
    return p.is_dir() and ((p / "zarr.json").is_file() or (p / ".zgroup").is_file())


# --------------------------------------------------------------------------- sniffing


def _head(p: Path, n: int = 16) -> bytes:
    with open(p, "rb") as fh:
        return fh.read(n)


def _looks_like_text_table(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "," in text or "\t" in text or ";" in text


#: compressions an STDF file may come in (the reader decompresses by magic bytes)
_STDF_SUFFIXES = tuple(f"{base}{z}" for base in (".stdf", ".std")
                       for z in ("", ".gz", ".bz2", ".xz"))
_BZ2_MAGIC, _XZ_MAGIC = b"BZh", b"\xfd7zXZ\x00"


def _decompressed_head(p: Path, head: bytes) -> bytes:
    """The first bytes of a gzip/bz2/xz file, decompressed (b"" when unreadable): an
    STDF file keeps its FAR magic under any of the three."""
    import bz2
    import gzip
    import lzma

    opener = {_GZIP_MAGIC: gzip.open, _BZ2_MAGIC: bz2.open, _XZ_MAGIC: lzma.open}
    for magic, open_ in opener.items():
        if head.startswith(magic):
            try:
                with open_(p, "rb") as fh:
                    return fh.read(4)
            except (OSError, EOFError, ValueError):
                return b""
    return b""


def _format_of(p: Path) -> str:
    """Name the reader for ``p`` from its magic bytes, then its extension."""
    name = p.name.lower()
    if p.is_dir():
        if _is_zarr_dir(p):
            return "zarr"
        found = ", ".join(sorted(c.name for c in p.iterdir())[:5]) or "nothing"
        raise FabDataError(f"{p}: a directory but not a Zarr store (found {found})")
    head = _head(p, 256)
    if head.startswith(_HDF5_MAGIC) or head.startswith(_NETCDF3_MAGIC):
        return "netcdf"
    if head.startswith(_PARQUET_MAGIC):
        return "table"
    if head.startswith(_STDF_MAGIC) or name.endswith(_STDF_SUFFIXES) or \
            _decompressed_head(p, head).startswith(_STDF_MAGIC):
        return "stdf"
    if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")) or (
        not head.startswith(_GZIP_MAGIC) and name.endswith((".parquet", ".pq"))
    ):
        return "table"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or name.endswith(".xml"):
        return "e142"
    if _looks_like_text_table(head):
        return "table"
    raise FabDataError(
        f"{p}: unknown file format (not NetCDF/HDF5, Zarr, CSV, Parquet, STDF or E142 XML); "
        f"first bytes {head[:16]!r}"
    )


#: file names a folder read picks up (other files are named in a warning, not read)
_LOT_SUFFIXES = _STDF_SUFFIXES + (".xml", ".nc", ".nc4", ".zarr", ".csv", ".csv.gz", ".tsv",
                                  ".parquet", ".pq")


def _natural(p: Path):
    """Sort key: digits as numbers, so wafer-2 comes before wafer-10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _expand(path) -> list[Path]:
    """The files ``path`` names: itself (a file or a Zarr store), the readable files of a
    folder, the matches of a glob, or each item of a list; sorted naturally."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise FabDataError("fabnb.io.read got an empty list of files")
        return [p for item in path for p in _expand(item)]
    text = str(path)
    p = Path(text).expanduser()
    if not p.exists() and glob.has_magic(text):
        found = sorted((Path(m) for m in glob.glob(str(p), recursive=True)), key=_natural)
        if not found:
            raise FabDataError(f"no file matches {text!r} (looked from {Path.cwd()})")
        return [q for q in found if not q.name.startswith(".")]
    p = _existing(p)
    if p.is_dir() and not _is_zarr_dir(p):
        inside = sorted((q for q in p.iterdir() if not q.name.startswith(".")), key=_natural)
        picked = [q for q in inside if q.name.lower().endswith(_LOT_SUFFIXES) or _is_zarr_dir(q)]
        if not picked:
            shown = ", ".join(q.name for q in inside[:5]) or "nothing"
            raise FabDataError(f"{p}: a folder that is not a Zarr store and holds no file "
                               f"fabnb reads (found {shown}); "
                               f"readable names end in {', '.join(_LOT_SUFFIXES)}")
        left = [q.name for q in inside if q not in picked]
        if left:
            warnings.warn(f"fabnb.io.read: {p}: not read (not a data file by its name): "
                          + ", ".join(left[:10]) + (" ..." if len(left) > 10 else ""),
                          stacklevel=user_stacklevel())
        return picked
    return [p]


def read(path, progress: bool = True, **kwargs) -> xr.Dataset:
    """Read a file, a folder, a glob or a list of files into one validated contract Dataset.

    ``path`` may be

    - a file (or a Zarr store): its format sniffed from the first bytes, then the name:
      NetCDF (HDF5 or classic magic), a Zarr directory (``zarr.json`` / ``.zgroup``),
      Parquet (``PAR1``), STDF (a FAR record, also inside gzip/bz2/xz, or
      ``.stdf``/``.std`` with ``.gz``/``.bz2``/``.xz``), SEMI E142/G85 XML (``<`` or
      ``.xml``), CSV (``.csv``/``.tsv``/``.txt`` or delimited text, long or wide layout);
    - a folder (not a Zarr store): every file in it whose name ends in a data suffix
      (:data:`_LOT_SUFFIXES`; hidden files skipped, other files named in a warning);
    - a glob (``"lots/*/W*.stdf.gz"``, ``**`` recursive) or a list of paths.

    Several files become one Dataset, in natural name order (``w2`` before ``w10``):
    all STDF in one :func:`fabnb.io.read_stdf` pass (one wafer per WIR..WRR block,
    tests unioned by TEST_NUM), other formats read one by one and joined by
    :func:`fabnb.io._combine.combine` (dies unioned by ``(col, row)``, tests by name;
    clashing geometry, limits or units raise).  A wafer id found in two files raises
    :class:`~fabnb.FabDataError` naming both.  ``progress`` shows a ``tqdm`` bar over
    the files (``False`` silences it).  ``kwargs`` go to the format's reader (for
    tables, the column mapping of :func:`fabnb.io.from_long_table`; for STDF
    ``retest``/``errors``).

    Raises :class:`~fabnb.FabDataError` for a missing path, a glob matching nothing or
    an unknown format, naming the path and the first bytes found.

    Example
    -------
    >>> ds = fabnb.io.read("lot.nc")                          # doctest: +SKIP
    >>> lot = fabnb.io.read("probe/LOT42/")                   # doctest: +SKIP
    >>> lot = fabnb.io.read("probe/LOT4*/*.stdf.gz", progress=False)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from .. import io
    from ._combine import combine

    check_params("read", {"progress": ["boolean"]}, {"progress": progress})
    paths = _expand(path)
    formats = [_format_of(p) for p in paths]
    if all(f == "stdf" for f in formats):
        return io.read_stdf(paths if len(paths) > 1 else paths[0], progress=progress, **kwargs)
    readers = {
        "netcdf": read_netcdf,
        "zarr": read_zarr,
        "table": lambda q, **kw: io.read_table(q, **kw),
        "stdf": lambda q, **kw: io.read_stdf(q, progress=False, **kw),
        "e142": lambda q, **kw: io.read_e142(q, **kw),
    }
    if len(paths) == 1:
        return readers[formats[0]](paths[0], **kwargs)
    datasets = []
    for p, fmt in tqdm(list(zip(paths, formats)), desc="fabnb.io.read", unit="file",
                       disable=not progress, delay=2):
        datasets.append(readers[fmt](p, **kwargs))
    return combine(datasets, paths)

"""The parameters of a report template, read from its ``parameters``-tagged cell, and the
checks run on user-supplied values *before* any kernel starts.

A template declares each parameter as a plain assignment with a literal default::

    dataset = "synthetic"   # or a path readable by fabnb.io.read
    seed = 0
    lot = None              # None: no type constraint

The default's type is the parameter's type: an ``int`` default accepts ints, a ``float``
default accepts ints and floats, a ``bool`` default only bools, a ``str`` default only
strings, a ``list`` default lists or tuples, and a ``None`` default anything.

Example
-------
>>> check_parameters({"seed": 0, "title": "Lot"}, {"seed": 3}, template="demo")
{'seed': 3}
>>> check_parameters({"seed": 0}, {"seed": "3"}, template="demo")
Traceback (most recent call last):
...
fabnb.report.params.ReportError: parameter 'seed' of template 'demo' expects int (default 0), got str '3'
"""

from __future__ import annotations

import ast
import glob
import json
from pathlib import Path

import yaml

from ..errors import FabDataError

#: a dataset parameter with this value builds the synthetic fab instead of reading a file
SYNTHETIC = "synthetic"


class ReportError(ValueError):
    """A report cannot be run as asked: unknown template or parameter, wrong type.

    Raised before any kernel starts.
    """


def parameters_source(nb: dict) -> str | None:
    """Source of the first code cell tagged ``parameters`` of notebook JSON ``nb``, or None."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else source
    return None


def read_parameters(path) -> dict:
    """Names and literal defaults declared in the ``parameters`` cell of notebook ``path``.

    A default that is not a Python literal (``seed = 2 * 3``) is returned as None, which
    means "any type".

    Example
    -------
    >>> read_parameters(template_path("lot_report"))["preset"]  # doctest: +SKIP
    'small'
    """
    try:  # plain JSON: importing nbformat costs seconds, too slow for a quick refusal
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ReportError(f"cannot read notebook {path}: {err}") from None
    source = parameters_source(nb)
    if source is None:
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ReportError(f"the parameters cell of {path} is not valid Python: {err}") from None
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    declared[target.id] = ast.literal_eval(value)
                except ValueError:
                    declared[target.id] = None
    return declared


def _type_ok(value, default) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_parameters(declared: dict, parameters: dict | None, template: str) -> dict:
    """Check ``parameters`` against the ``declared`` defaults; return them ready to inject.

    Raises :class:`ReportError` on an unknown name or a wrong type, and
    :class:`~fabnb.FabDataError` when ``dataset`` names a path that does not exist. A
    relative ``dataset`` path is made absolute so the kernel finds it from any directory.
    """
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise ReportError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for template "
            f"'{template}'; it accepts: {allowed}"
        )
    for name, value in parameters.items():
        default = declared[name]
        several_files = name == "dataset" and isinstance(value, (list, tuple))
        if not several_files and not _type_ok(value, default):
            raise ReportError(
                f"parameter '{name}' of template '{template}' expects "
                f"{type(default).__name__} (default {default!r}), "
                f"got {type(value).__name__} {value!r}"
            )
    dataset = parameters.get("dataset")
    if isinstance(dataset, (list, tuple)):
        parameters["dataset"] = [str(existing_path(p).resolve()) for p in dataset]
    elif isinstance(dataset, (str, Path)) and str(dataset) != SYNTHETIC:
        parameters["dataset"] = _absolute(dataset)
    return parameters


def _absolute(dataset) -> str:
    """An existing path made absolute, or a glob made absolute that matches something,
    so the kernel finds the data from any directory."""
    path = Path(dataset).expanduser()
    if path.exists() or not glob.has_magic(str(dataset)):
        return str(existing_path(dataset).resolve())
    pattern = path if path.is_absolute() else Path.cwd() / path
    if not glob.glob(str(pattern), recursive=True):
        raise FabDataError(f"dataset glob {str(dataset)!r} matches no file (looked from {Path.cwd()})")
    return str(pattern)


def existing_path(dataset) -> Path:
    """``dataset`` as a Path; :class:`~fabnb.FabDataError` naming it when it does not exist.

    Example
    -------
    >>> existing_path("no/such/fab.zarr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fabnb.errors.FabDataError: dataset path 'no/such/fab.zarr' does not exist ...
    """
    path = Path(dataset).expanduser()
    if not path.exists():
        raise FabDataError(
            f"dataset path {str(dataset)!r} does not exist (looked in {path.resolve()}); "
            f"pass an existing file or '{SYNTHETIC}'"
        )
    return path


def parse_value(text: str, default=None):
    """Turn a command-line string into a parameter value, guided by the default's type.

    A ``str`` default keeps the text as is (``-p title 2024`` stays ``"2024"``);
    otherwise ``None``/``null``, ``true``/``false``, ints, floats and ``[a, b]`` lists are
    recognised, as papermill's ``-p`` does, and anything else stays a string.

    Example
    -------
    >>> parse_value("3"), parse_value("0.5"), parse_value("none"), parse_value("[T01, T02]")
    (3, 0.5, None, ['T01', 'T02'])
    >>> parse_value("3", default="title")
    '3'
    """
    if isinstance(default, str):
        return text
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.strip().startswith("["):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text

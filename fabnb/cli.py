"""The ``fabnb`` command line.

::

    fabnb report --list
    fabnb report lot_report -p preset small -p title "Lot L0001" -o out/lot.html
    fabnb report lot_report --lots L0001,L0002 --workers 2 -o out/lot.html
    fabnb demo --out out

Exit codes: 0 success, 1 the notebook failed (the partial ``.ipynb`` is kept and the
failing cell is named), 2 bad arguments or parameters (nothing was started).

Example
-------
>>> main(["report", "--list"])  # doctest: +SKIP
lot_report
0
"""

from __future__ import annotations

import argparse
import sys

from .errors import FabDataError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fabnb", description="fabnb: fab data analysis kit")
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser(
        "report", help="run a report template into HTML (+ the executed notebook)",
        description="Run a report template with papermill and convert it to HTML.",
    )
    report.add_argument("template", nargs="?", help="template name (see --list) or notebook path")
    report.add_argument("--list", action="store_true", help="list the available templates")
    report.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("KEY", "VALUE"), help="set a template parameter (repeatable)")
    report.add_argument("-o", "--output", default="out/report.html", help="HTML output path")
    report.add_argument("--lots", help="comma-separated lot ids: one report per lot")
    report.add_argument("--workers", type=int, default=1, help="parallel runs with --lots")
    report.add_argument("--kernel", default=None, help="Jupyter kernel name")
    report.add_argument("--start-timeout", type=float, default=60, help="kernel start timeout (s)")
    report.add_argument("--timeout", type=float, default=600, help="per-cell timeout (s)")
    report.add_argument("--progress", action="store_true", help="show a progress bar")

    demo = commands.add_parser("demo", help="synthetic fab -> Zarr, lot report, figures, tables")
    demo.add_argument("--out", default="out", help="output folder")
    demo.add_argument("--preset", default="default", choices=("default", "small"))
    demo.add_argument("--seed", type=int, default=0)
    return parser


def _parameters(pairs, template) -> dict:
    """``-p KEY VALUE`` pairs parsed with the template's defaults as type hints."""
    from .report import parse_value, read_parameters, template_path

    declared = read_parameters(template_path(template))
    return {key: parse_value(value, declared.get(key)) for key, value in pairs}


def _report(args) -> int:
    from . import report

    if args.list:
        for name in report.list_templates():
            print(name)
        return EXIT_OK
    if not args.template:
        print("fabnb report: give a TEMPLATE or --list", file=sys.stderr)
        return EXIT_USAGE
    if args.workers != 1 and not args.lots:
        print("fabnb report: --workers needs --lots (one report per lot)", file=sys.stderr)
        return EXIT_USAGE
    options = {"kernel_name": args.kernel, "start_timeout": args.start_timeout,
               "execution_timeout": args.timeout, "progress": args.progress}
    try:
        parameters = _parameters(args.parameter, args.template)
        if args.lots:
            lots = [lot.strip() for lot in args.lots.split(",") if lot.strip()]
            done = report.run_lots(args.template, lots, parameters, args.output,
                                   workers=args.workers, **options)
            for lot, result in done.items():
                print(f"{lot}: {result.html} ({result.seconds:.1f} s)")
        else:
            result = report.run(args.template, parameters, args.output, **options)
            print(f"{result.html} ({result.seconds:.1f} s); notebook: {result.notebook}")
    except (report.ReportError, FabDataError) as err:
        print(f"fabnb report: {err}", file=sys.stderr)
        return EXIT_USAGE
    except report.ReportExecutionError as err:
        print(f"fabnb report: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def main(argv=None) -> int:
    """Entry point of the ``fabnb`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "report":
        return _report(args)
    from .demo import main as demo_main

    return demo_main(["--out", args.out, "--preset", args.preset, "--seed", str(args.seed)])


if __name__ == "__main__":
    sys.exit(main())

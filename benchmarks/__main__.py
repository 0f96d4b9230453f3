"""Run every benchmark module in this folder: ``python -m benchmarks [name ...]``."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names):
    here = Path(__file__).parent
    found = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = [n for n in found if not names or any(n.endswith(x) or n == x for x in names)]
    for name in chosen:
        print(f"\n===== {name} =====", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])

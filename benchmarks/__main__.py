"""Run every benchmark module listed in BENCHMARKS and print its report."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: tuple[str, ...] = ("udf_roundtrip", "isb_hop", "apiserver", "pipeline_e2e")


def main() -> int:
    if not BENCHMARKS:
        print("no benchmarks registered yet")
        return 0
    for name in BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())

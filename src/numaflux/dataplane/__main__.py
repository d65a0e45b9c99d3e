"""`python -m numaflux.dataplane`: the vertex process without the CLI's other command modules loaded
(the same as `numaflux vertex`, ~20 MiB less resident memory); the entry point for the `numa` container."""

from __future__ import annotations

import sys

from numaflux.dataplane.main import main

if __name__ == "__main__":
    sys.exit(main())

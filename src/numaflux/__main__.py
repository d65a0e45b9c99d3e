"""``python -m numaflux``: the CLI.

``python -m numaflux vertex`` (a vertex pod's main container, nothing else on the command line) starts
the vertex process without loading the CLI's command groups: every pod start paid ~0.9 s of CPU for
imports it never used, and pods of a resumed pipeline start all at once on few cores."""

import sys

if sys.argv[1:] == ["vertex"]:
    from numaflux.dataplane.main import main as run_vertex

    sys.exit(run_vertex())

from numaflux.cli.main import main

main()

"""Name rules: Kubernetes DNS-1035 labels and the container names NumaFlow reserves."""

from __future__ import annotations

import re

DNS1035_MAX_LENGTH = 63
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

# Containers NumaFlow itself adds to vertex pods; user init containers and sidecars may not use them.
RESERVED_CONTAINER_NAMES = frozenset(
    {
        "init",
        "numa",
        "udf",
        "udsink",
        "fb-udsink",
        "ons-udsink",
        "transformer",
        "udsource",
        "udsi",
        "init-side-inputs",
        "side-inputs-synchronizer",
    }
)


def dns1035_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS-1035 label, or None when it is one."""
    if len(name) > DNS1035_MAX_LENGTH:
        return f"{name!r} is {len(name)} characters long, at most {DNS1035_MAX_LENGTH} are allowed"
    if not _DNS1035.fullmatch(name):
        return (
            f"{name!r} is not a DNS-1035 label (lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit)"
        )
    return None

"""A distinct loopback address per pod, persisted so a restarted kubelet gives a pod the same one.

Addresses come from 127.1.0.1 upward (127.0.0.0/16 is left to the host: 127.0.0.1, Debian's 127.0.1.1);
last octets 0 and 255 are skipped. Linux routes all of 127.0.0.0/8 to lo without setup. Each local cluster
starts at its own 127.N.0.1 (N from its state directory), so clusters side by side on one machine do not
hand out the same pod address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import zlib
from pathlib import Path

_FIRST_TEXT, _LAST_TEXT = "127.1.0.1", "127.254.255.254"
_FIRST = int(ipaddress.IPv4Address(_FIRST_TEXT))
_LAST = int(ipaddress.IPv4Address(_LAST_TEXT))


def first_address_for(data_dir: Path) -> str:
    """Where a cluster's pod addresses start: 127.N.0.1 with N in 1..254 from the state directory."""
    second = 1 + zlib.crc32(str(data_dir.resolve()).encode()) % 254
    return f"127.{second}.0.1"


class AddressPool:
    """uid → address table stored as JSON at `path` (written atomically on every change)."""

    def __init__(self, path: Path, first: str = "127.1.0.1") -> None:
        self.path = path
        self.first = int(ipaddress.IPv4Address(first))
        if not _FIRST <= self.first <= _LAST:
            raise ValueError(f"first pod address {first} is outside {_FIRST_TEXT}-{_LAST_TEXT}")
        self._by_uid: dict[str, dict[str, str]] = {}
        if path.exists():
            loaded = json.loads(path.read_text() or "{}")
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a JSON object of pod uid to address")
            self._by_uid = {str(uid): dict(entry) for uid, entry in loaded.items()}

    def get(self, uid: str) -> str | None:
        """The address held by a pod, if any."""
        entry = self._by_uid.get(uid)
        return entry["ip"] if entry else None

    def allocate(self, uid: str, namespace: str, name: str) -> str:
        """The pod's address, allocating the lowest free one the first time."""
        existing = self.get(uid)
        if existing is not None:
            return existing
        used = {int(ipaddress.IPv4Address(entry["ip"])) for entry in self._by_uid.values()}
        candidate = self.first
        while candidate in used or candidate & 0xFF in (0, 255):
            candidate += 1
            if candidate > _LAST:
                candidate = _FIRST
            if candidate == self.first:
                raise RuntimeError("no free loopback address left for pods")
        address = str(ipaddress.IPv4Address(candidate))
        self._by_uid[uid] = {"ip": address, "pod": f"{namespace}/{name}"}
        self._save()
        return address

    def release(self, uid: str) -> None:
        """Free the pod's address."""
        if self._by_uid.pop(uid, None) is not None:
            self._save()

    def uids(self) -> set[str]:
        """Pods that hold an address."""
        return set(self._by_uid)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._by_uid, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

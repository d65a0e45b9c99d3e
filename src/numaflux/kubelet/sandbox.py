"""Per-pod filesystem view and hostname.

Every process of a pod runs in its own mount namespace in which the pod's volume directories are
bind-mounted at their mountPaths (and a per-pod directory at /var/run/numaflow when the pod mounts
nothing there), and in its own UTS namespace whose hostname is the pod's name.

Each container process (and each exec probe) is started as
`unshare --mount --uts --propagation private -- /bin/sh -c '<hostname; bind mounts; cd>; exec "$@"' ...`;
unshare and sh both exec, so the container's pid is the program's pid. All containers of a pod bind the
same host directories, so they share emptyDirs while other pods and the host never see them. Missing
mount points are created on the host as empty directories (or empty files for file mounts), the way a
container runtime creates them in an image's root filesystem, and removed when no pod needs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class SandboxUnavailable(RuntimeError):
    """Mount namespaces cannot be created here; pods would share /var/run/numaflow, so none run."""


@dataclass(frozen=True)
class Mount:
    """A host path bound at `target` inside the pod's namespace."""

    source: Path
    target: str
    read_only: bool = False


def check_available() -> None:
    """Raise SandboxUnavailable unless this process can create private mount namespaces."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SandboxUnavailable("the local kubelet needs util-linux `unshare` on PATH to isolate pods")
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the local kubelet must run as root: each pod gets a private mount namespace so that "
            "/var/run/numaflow and emptyDir volumes are not shared between pods"
        )
    probe = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "--", "/bin/true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(f"cannot create a mount namespace (unshare --mount): {probe.stderr.strip()}")


class MountPoints:
    """Mount points the kubelet created on the host, with the pods that use them (persisted as JSON).

    A mount point (and any parent directory created with it) is removed again once no pod uses it and
    it is still empty, so the host is left as it was found.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, list[str]] = {}
        if path.exists():
            self._users = {str(k): list(v) for k, v in json.loads(path.read_text() or "{}").items()}

    def ensure(self, uid: str, mounts: Sequence[Mount]) -> None:
        """Create missing mount points (directory or file, like the source) and record `uid` as a user."""
        changed = False
        for mount in mounts:
            target = Path(mount.target)
            created: list[Path] = []
            if not (target.exists() or target.is_symlink()):
                missing = target.parent
                while not missing.exists():
                    created.append(missing)
                    missing = missing.parent
                if mount.source.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
                created.insert(0, target)
            for path in created:
                self._users.setdefault(str(path), [])
            for path in [target, *target.parents]:
                users = self._users.get(str(path))
                if users is not None and uid not in users:
                    users.append(uid)
                    changed = True
        if changed:
            self._save()

    def release(self, uid: str) -> list[Path]:
        """Forget `uid`; remove mount points nobody uses any more (if empty). Returns what was removed."""
        removed: list[Path] = []
        for key in sorted(self._users, key=lambda k: len(Path(k).parts), reverse=True):
            users = self._users[key]
            if uid in users:
                users.remove(uid)
            if users:
                continue
            path = Path(key)
            with contextlib.suppress(FileNotFoundError):
                if path.is_dir() and not path.is_symlink():
                    with contextlib.suppress(OSError):  # not empty or still mounted: leave it
                        path.rmdir()
                elif path.stat().st_size == 0:
                    path.unlink()
            if not path.exists():
                removed.append(path)
                del self._users[key]
        self._save()
        return removed

    def users(self) -> set[str]:
        """Every pod uid that uses a created mount point."""
        return {uid for users in self._users.values() for uid in users}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._users, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def pod_hostname(pod_name: str) -> str:
    """The pod's hostname: its name cut to 63 characters, as Kubernetes does."""
    return pod_name[:63].rstrip("-.") or "pod"


def wrap(argv: Sequence[str], mounts: Sequence[Mount], working_dir: str, hostname: str) -> list[str]:
    """argv that runs `argv` in fresh mount and UTS namespaces with `mounts` applied, the pod's hostname
    set and cwd `working_dir`."""
    steps = ["set -e", f"hostname {shlex.quote(hostname)}"]
    for mount in sorted(mounts, key=lambda m: len(Path(m.target).parts)):
        source, target = shlex.quote(str(mount.source)), shlex.quote(mount.target)
        steps.append(f"mount --bind -- {source} {target}")
        if mount.read_only:
            steps.append(f"mount -o remount,bind,ro -- {target}")
    steps.append(f"cd {shlex.quote(working_dir)}")
    steps.append("unset OLDPWD PWD")  # set by `cd`; not part of the container's environment
    steps.append('exec "$@"')
    script = "; ".join(steps)
    unshare = shutil.which("unshare") or "unshare"
    return [
        unshare,
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "sh",
        *argv,
    ]

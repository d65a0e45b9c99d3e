"""Pod volumes on the host: emptyDir directories, ConfigMap/Secret files and hostPath, and the mounts
each container gets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numaflux.kubelet import paths
from numaflux.kubelet.env import ContainerConfigError
from numaflux.kubelet.resolver import ObjectResolver
from numaflux.kubelet.sandbox import Mount


async def prepare_volumes(
    data_dir: Path, pod: Mapping[str, Any], resolver: ObjectResolver
) -> dict[str, Path]:
    """Create or fill every volume of the pod; returns volume name → host path.

    Raises ContainerConfigError naming the volume when a referenced object is missing or the type is not
    supported here.
    """
    meta = pod.get("metadata") or {}
    namespace, name = meta.get("namespace", "default"), meta["name"]
    result: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        vname = volume["name"]
        target = paths.volume_dir(data_dir, namespace, name, vname)
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume:
            source = volume["configMap"]
            data = await resolver.config_map(namespace, source["name"])
            _write_files(target, vname, "configmap", source, data, namespace)
        elif "secret" in volume:
            source = volume["secret"]
            data = await resolver.secret(namespace, source["secretName"])
            _write_files(target, vname, "secret", {**source, "name": source["secretName"]}, data, namespace)
        elif "hostPath" in volume:
            target = _host_path(vname, volume["hostPath"])
        else:
            kinds = sorted(k for k in volume if k != "name")
            raise ContainerConfigError(f"volume {vname!r}: type {kinds} is not supported here")
        result[vname] = target
    return result


def _host_path(volume: str, source: Mapping[str, Any]) -> Path:
    host = Path(source["path"])
    if source.get("type") == "DirectoryOrCreate":
        host.mkdir(parents=True, exist_ok=True)
    if not host.exists():
        raise ContainerConfigError(f"volume {volume!r}: hostPath {host} does not exist")
    return host


def _write_files(
    target: Path,
    volume: str,
    kind: str,
    source: Mapping[str, Any],
    data: dict[str, bytes] | None,
    namespace: str,
) -> None:
    if data is None:
        if source.get("optional"):
            data = {}
        else:
            raise ContainerConfigError(f'volume {volume!r}: {kind} "{source["name"]}" not found')
    items = source.get("items")
    files = {item["path"]: (item["key"], item.get("mode")) for item in items} if items else None
    if files is None:
        files = {key: (key, None) for key in data}
    target.mkdir(parents=True, exist_ok=True)
    default_mode = int(source.get("defaultMode", 0o644))
    for rel, (key, mode) in files.items():
        if key not in data:
            if source.get("optional"):
                continue
            raise ContainerConfigError(
                f"volume {volume!r}: couldn't find key {key} in {kind} {namespace}/{source['name']}"
            )
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[key])
        os.chmod(path, int(mode) if mode is not None else default_mode)


def container_mounts(
    container: Mapping[str, Any], volumes: Mapping[str, Path], private_run: Path
) -> list[Mount]:
    """Bind mounts of a container; /var/run/numaflow is always private to the pod."""
    mounts: list[Mount] = []
    for mount in container.get("volumeMounts") or []:
        vname = mount["name"]
        if vname not in volumes:
            raise ContainerConfigError(f"volumeMount {mount['mountPath']!r}: no volume named {vname!r}")
        source = volumes[vname]
        if mount.get("subPath"):
            source = source / mount["subPath"]
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(source, mount["mountPath"], bool(mount.get("readOnly"))))
    if not any(_same_path(m.target, paths.VAR_RUN_NUMAFLOW) for m in mounts):
        private_run.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(private_run, paths.VAR_RUN_NUMAFLOW))
    return mounts


def _same_path(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)

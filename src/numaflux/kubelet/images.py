"""What process runs for a container, given that no image can be pulled on this machine.

Order of resolution:
1. our own image (`OWN_IMAGE_REPOSITORIES`) → `python -m numaflux` with the container's args;
2. a container with `command` → that command and args;
3. the image map: the user's `DATA_DIR/images.yaml` over `DEFAULT_IMAGE_MAP` → that argv plus args;
4. anything else cannot run: the container waits with reason `ImageNotRunnableLocally`.

Image map entries are keyed by the full image reference, or by the repository without tag/digest (which
matches every tag). A value is an argv list (or a string split like a shell); the token `{python}` stands
for the kubelet's interpreter. Example `images.yaml`:

    quay.io/numaproj/numaflow-go/map-cat:stable: ["{python}", "/opt/udfs/cat.py"]
    docker.io/library/redis: ["/usr/bin/redis-server"]
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from numaflux.kubelet import paths
from numaflux.udfs.image_map import BUNDLED_IMAGES

OWN_IMAGE_REPOSITORIES: set[str] = {"quay.io/numaproj/numaflow", "numaflux", "localhost/numaflux"}
"""Repositories (without tag) of images that are this package."""

OWN_ENTRYPOINTS = {"numaflow", "numaflow-rs", "numaflux"}
"""Executable names in an own image's `command` that stand for this package."""

DEFAULT_IMAGE_MAP: dict[str, list[str]] = dict(BUNDLED_IMAGES)
"""Bundled image → argv entries (the upstream example images run numaflux's own pynumaflow UDFs).
The user's image map overrides them."""

PYTHON_TOKEN = "{python}"


class ImageNotRunnable(Exception):
    """No local command is known for the image; the message says how to map one."""


def repository(image: str) -> str:
    """The image reference without tag and digest."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def is_own_image(image: str) -> bool:
    """Whether the image is this package."""
    return repository(image) in OWN_IMAGE_REPOSITORIES


def load_image_map(data_dir: Path) -> dict[str, list[str]]:
    """Defaults merged under the user's map file (which may be absent); raises ValueError on a bad file."""
    merged = {key: list(value) for key, value in DEFAULT_IMAGE_MAP.items()}
    path = paths.image_map_path(data_dir)
    if not path.exists():
        return merged
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of image to command, got {type(loaded).__name__}")
    for image, command in loaded.items():
        merged[str(image)] = _argv(path, str(image), command)
    return merged


def _argv(path: Path, image: str, command: Any) -> list[str]:
    if isinstance(command, str):
        return shlex.split(command)
    if isinstance(command, list) and command and all(isinstance(part, str | int) for part in command):
        return [str(part) for part in command]
    raise ValueError(f"{path}: entry {image!r} must be a non-empty list of strings or a command string")


def _python(argv: Sequence[str]) -> list[str]:
    return [sys.executable if part == PYTHON_TOKEN else part for part in argv]


@dataclass(frozen=True)
class Resolution:
    """The argv to run and where it came from (for messages)."""

    argv: list[str]
    source: str


def resolve(
    container: Mapping[str, Any],
    command: Sequence[str] | None,
    args: Sequence[str],
    image_map: Mapping[str, Sequence[str]],
    data_dir: Path,
) -> Resolution:
    """argv for a container whose (already expanded) command and args are given."""
    image = str(container.get("image", ""))
    own = [sys.executable, "-m", "numaflux"]
    if is_own_image(image):
        if not command:
            return Resolution([*own, *args], "own image")
        if Path(command[0]).name in OWN_ENTRYPOINTS:
            return Resolution([*own, *command[1:], *args], "own image")
        return Resolution([*command, *args], "command")
    if command:
        return Resolution([*command, *args], "command")
    for key in (image, repository(image)):
        if key in image_map:
            return Resolution([*_python(image_map[key]), *args], "image map")
    map_file = paths.image_map_path(data_dir)
    raise ImageNotRunnable(
        f'image "{image}" cannot run on this machine: containers run as local processes. '
        f"Give the container a `command`, or map the image to a local command in {map_file}, e.g.\n"
        f'  {repository(image) or image}: ["{PYTHON_TOKEN}", "/path/to/program.py"]'
    )

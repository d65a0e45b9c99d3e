"""Local node agent: runs Pod objects as processes on this machine.

- `numaflux.kubelet.node.Kubelet` runs pods (dicts) and reports their status; no API server needed.
- `numaflux.kubelet.agent.KubeletAgent` connects it to an API server (`python -m numaflux.kubelet`).
- `numaflux.kubelet.paths` has the data-dir layout, e.g. `container_log_path` served by `pods/log`.
- `numaflux.kubelet.images` decides what a container's image runs as (`DEFAULT_IMAGE_MAP` hook).
"""

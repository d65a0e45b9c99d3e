"""Embedded Kubernetes-compatible API server for the local (single-machine) mode.

Starting it:
- as a process: `python -m numaflux.apiserver --dir DIR [--port N] [--host 127.0.0.1]`; runs until
  SIGTERM/SIGINT. Without --port it reuses the previous run's port (DIR/apiserver.port) when free.
- in a running event loop: `server = await serve(DIR, port=0)`; `server.port`, `server.url`,
  `server.kubeconfig`; `await server.stop()`.
- readiness: `ready(DIR)` is true once DIR/apiserver.json names a live process whose port accepts
  connections (fits `numaflux.local.supervisor.Component.ready`); `read_state(DIR)` returns that file.

Files under DIR: `kubeconfig` (0600; CA data + bearer token, context "numaflux-local", namespace
"default"), `token`, `pki/` (CA and serving certificate, made at first start), `apiserver.db` (SQLite
WAL), `apiserver.json`, `apiserver.port`, `apiserver.lock` (one server per DIR).

Pod logs: the kubelet writes DIR/pods/{namespace}/{pod}/{container}.log (previous instance:
`.log.1`), see `log_path`; `pods/log` serves them, and a follow stream ends when the pod goes away or
its status reports the container terminated.

Client notes (kubernetes_asyncio behaves the same against a real cluster): patching custom objects
with a dict needs `_content_type="application/merge-patch+json"`; `create_namespaced_pod_binding`
answers a Status, so call it with `_preload_content=False`.
"""

from numaflux.apiserver.logs import log_path
from numaflux.apiserver.server import RunningServer, kubeconfig_path, read_state, ready, serve

__all__ = ["RunningServer", "kubeconfig_path", "log_path", "read_state", "ready", "serve"]

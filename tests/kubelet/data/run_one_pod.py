"""Run one pod (JSON file) on a kubelet with the given data dir; print "<pid> <podIP>" once it runs."""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from numaflux.kubelet.node import Kubelet, KubeletConfig


async def main(data_dir: Path, pod: dict[str, Any]) -> None:
    kubelet = Kubelet(KubeletConfig(data_dir=data_dir))
    await kubelet.start()
    runtime = kubelet.sync_pod(pod)
    await runtime.mains[0].started_event.wait()
    print(runtime.pids()["main"], runtime.ctx.pod_ip, flush=True)
    await asyncio.Event().wait()


asyncio.run(main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())))

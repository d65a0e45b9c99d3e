"""Fixtures for the local kubelet's tests: a started Kubelet on a temporary data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from numaflux.kubelet.backoff import BackoffPolicy
from numaflux.kubelet.node import Kubelet, KubeletConfig


@pytest_asyncio.fixture(loop_scope="function")
async def kubelet(tmp_path: Path) -> AsyncIterator[Kubelet]:
    node = Kubelet(
        KubeletConfig(
            data_dir=tmp_path / "local",
            node_name="test-node",
            backoff=BackoffPolicy(base=0.5, cap=2.0, reset_after=600.0),
            default_working_dir=tmp_path,
        )
    )
    await node.start()
    try:
        yield node
    finally:
        await node.shutdown()
        for uid in list(node.pods):
            await node.remove_pod(uid)  # also removes mount points created on the host

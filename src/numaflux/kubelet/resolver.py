"""How the kubelet reads ConfigMaps and Secrets (implemented by the API-sync layer)."""

from __future__ import annotations

from typing import Protocol


class ObjectResolver(Protocol):
    """Fetches referenced objects; `None` means the object does not exist."""

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """`data` (UTF-8 encoded) and `binaryData` of a ConfigMap."""
        ...

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """Decoded `data` of a Secret."""
        ...


class NoObjects:
    """Resolver for a kubelet without an API server: every reference is missing."""

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return None

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return None


class StaticObjects:
    """Resolver over objects held in memory (namespace, name) -> data; for embedding and tests."""

    def __init__(
        self,
        config_maps: dict[tuple[str, str], dict[str, bytes]] | None = None,
        secrets: dict[tuple[str, str], dict[str, bytes]] | None = None,
    ) -> None:
        self.config_maps = dict(config_maps or {})
        self.secrets = dict(secrets or {})

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.config_maps.get((namespace, name))

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.secrets.get((namespace, name))

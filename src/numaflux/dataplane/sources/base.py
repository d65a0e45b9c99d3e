"""The source interface the source forwarder drives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from numaflux.isb import Message


class Source(Protocol):
    """Produces messages (ids, keys, event times and headers set) and learns when they are safely written."""

    name: str

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def read(self, max_messages: int, wait: float) -> list[Message]:
        """Up to `max_messages`, waiting at most `wait` seconds for the first; [] when none."""
        ...

    async def ack(self, messages: Sequence[Message]) -> None:
        """The messages are stored downstream (or dropped by policy)."""
        ...

    async def nack(self, messages: Sequence[Message]) -> None:
        """The messages could not be written; the source may offer them again."""
        ...

    def stop(self) -> None:
        """Stop producing new messages; `read` returns [] from now on."""
        ...

    async def pending(self) -> int | None: ...

    async def close(self) -> None: ...

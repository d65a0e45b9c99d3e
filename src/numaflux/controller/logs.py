"""Structured log lines: `message key=value ...` (logfmt), naming the object they are about."""

from __future__ import annotations

import logging
import sys
from typing import Any


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def kv(message: str, **fields: Any) -> str:
    """`message k1=v1 k2="v 2"`; None values are left out."""
    parts = [message] + [f"{k}={_quote(v)}" for k, v in fields.items() if v is not None]
    return " ".join(parts)


def configure(level: int = logging.INFO) -> None:
    """logfmt-style lines on stderr: `time=... level=... logger=... msg key=value ...`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("time=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

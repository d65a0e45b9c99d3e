"""Shared test configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_EXAMPLES = REPO_ROOT.parent / "shared" / "examples" / "numaflow"


@pytest.fixture(scope="session")
def shared_examples_dir() -> Path:
    """Upstream NumaFlow example pipelines (../shared/examples/numaflow)."""
    if not SHARED_EXAMPLES.is_dir():
        raise RuntimeError(f"upstream examples not found at {SHARED_EXAMPLES}")
    return SHARED_EXAMPLES

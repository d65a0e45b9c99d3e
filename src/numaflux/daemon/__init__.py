"""Per-pipeline daemon: buffers, rates, pending, watermarks and data health."""

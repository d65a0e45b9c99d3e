"""Local node agent: runs Pod objects as processes on this machine."""

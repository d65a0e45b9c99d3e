"""Embedded Kubernetes-compatible API server for the local (single-machine) mode."""

"""Vertex controller decisions, as pure functions of the Vertex object and its pods.

- ``pods``: the pod (and services) a Vertex wants, and the pod-spec hash.
- ``orchestrate``: which replicas to create and which pods to delete (scale, rolling update).
- ``status``: the Vertex status (Deployed/PodsHealthy with NumaFlow's reasons, phase, ready replicas).
- ``reconcile``: ``plan_vertex``, the whole reconcile over the modules above.

Everything is computed from the Vertex's own spec; the Pipeline is never read.
"""

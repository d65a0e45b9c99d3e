"""Pipeline controller decisions, as pure functions of observed state.

A reconcile reads the Pipeline, its Vertex objects, pods, the ISB service, the daemon Deployment and the
buffer infos; calls these functions; and applies what they return. Nothing here performs I/O.

- ``build``: the Vertex objects a Pipeline wants, and the create/update/delete plan for them and for the
  ISB buffers and buckets.
- ``lifecycle``: the pause / resume / delete state machine.
- ``repair``: consistency checks that fix what drifted and say so.
- ``status``: the Pipeline's status (conditions, counts, phase, message).
- ``daemon``: the daemon Deployment and Service.
- ``reconcile``: ``plan_pipeline``, the whole reconcile in NumaFlow's order over the modules above.
"""

"""Controller runtime and the reconcilers (ISB service, Pipeline, Vertex) plus the autoscaler."""

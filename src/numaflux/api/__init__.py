"""NumaFlow resource model: Pipeline, Vertex, InterStepBufferService, MonoVertex."""

"""InterStepBufferService controller (JetStream): local and Kubernetes installers."""

"""Inter-step buffers on NATS JetStream: streams, consumers, KV buckets, buffer info."""

"""The vertex process: forwarders, builtin sources and sinks, UDF gRPC clients."""

"""The vertex process: forwarders, builtin sources and sinks, UDF gRPC clients.

Run it as `numaflux vertex` or, lighter, `python -m numaflux.dataplane` (see `config` for the pod env).
Modules: `config` (pod env → VertexConfig), `vertex` (VertexProcess, serve), `forward` (source, map and
sink forwarders, ordered batch pipeline, edge outputs, inputs with watermarks), `routing` (tag
conditions), `sources` (generator, http, udsource), `sinks` (log, blackhole, udsink, delivery with
retry/fallback/onSuccess), `metrics` (Prometheus + health server), `supervisor` (UDF reconnects),
`udf` (gRPC clients of pynumaflow servers).
"""

"""Per-pipeline daemon: buffers, rates, pending, watermarks and data health.

Modules: `buffers` (BufferInfo for a pipeline's buffers — shared with the controller and CLI), `rater`
(CalculateRate / CalculatePending / dynamic lookback over snapshot queues), `pods` (vertex pod discovery),
`scraper` (the 5 s scrape loop), `health` (data-health EWMA), `watermarks`, `service` (request logic),
`http` (REST routes), `server` (the `numaflux daemon` process), `client` (DaemonClient).
"""

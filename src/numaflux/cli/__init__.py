"""The `numaflux` command line."""

"""Example UDF programs, written with pynumaflow as a user would, standing in for the upstream example
images (numaflow-go / numaflow-rs examples).  Run one with ``python -m numaflux.udfs.<name>``;
:mod:`numaflux.udfs.image_map` maps the upstream image names to those commands."""

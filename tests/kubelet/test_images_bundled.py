"""The upstream example images resolve to the bundled pynumaflow UDFs without any user map."""

from pathlib import Path

from numaflux.kubelet.images import load_image_map


def test_upstream_map_cat_image_runs_the_bundled_cat_udf(tmp_path: Path) -> None:
    image_map = load_image_map(tmp_path)
    argv = image_map["quay.io/numaio/numaflow-go/map-cat:stable"]
    assert argv[-2:] == ["-m", "numaflux.udfs.map_cat"]


def test_a_users_map_entry_overrides_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "images.yaml").write_text('quay.io/numaio/numaflow-go/map-cat:stable: ["/bin/cat"]\n')
    assert load_image_map(tmp_path)["quay.io/numaio/numaflow-go/map-cat:stable"] == ["/bin/cat"]

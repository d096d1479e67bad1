import pytest

from stock_platform.defs.provenance import CODE_VERSION, IMAGE_ENV_VAR, provenance_metadata


def test_provenance_names_the_run_job_and_code_version(monkeypatch):
    monkeypatch.delenv(IMAGE_ENV_VAR, raising=False)
    metadata = provenance_metadata("run-7", "finnhub_ingest")
    assert {name: value.value for name, value in metadata.items()} == {
        "run_id": "run-7",
        "job": "finnhub_ingest",
        "code_version": CODE_VERSION,
    }


@pytest.mark.parametrize(("image", "expected"), [("registry/stock-platform:1.2.3", "registry/stock-platform:1.2.3"), ("", None)])
def test_the_run_pods_image_is_recorded_when_kubernetes_sets_it(monkeypatch, image, expected):
    monkeypatch.setenv(IMAGE_ENV_VAR, image)
    metadata = provenance_metadata("run-7", "stream_processor")
    assert (metadata["image"].value if "image" in metadata else None) == expected


def test_code_version_is_the_installed_package_version():
    assert CODE_VERSION[0].isdigit()

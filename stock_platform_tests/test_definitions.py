import dagster as dg

from stock_platform.definitions import defs


def test_definitions_load():
    repository = defs.get_repository_def()
    assert "finnhub_ingest" in repository.job_names


def test_keeper_sensors_are_on_by_default():
    sensor = defs.get_sensor_def("finnhub_ingest_keeper")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_long_running_jobs_carry_the_concurrency_tag():
    assert defs.get_job_def("finnhub_ingest").tags["stock_platform/long_run"] == "finnhub_ingest"


def test_market_asset_is_declared():
    assert dg.AssetKey("market") in defs.resolve_asset_graph().get_all_asset_keys()

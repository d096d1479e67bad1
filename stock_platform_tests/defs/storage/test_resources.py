"""Store resources: settings from config, stores handed out and closed, the password never shown."""

import dagster as dg
import pytest

from stock_platform.defs.storage.resources import (
    CassandraResource,
    EmbeddedStoreResource,
    MarketStoreResource,
    SelectedStoreResource,
)
from stock_platform.storage.settings import CassandraStoreSettings, EmbeddedStoreSettings
from stock_platform_tests.storage.cassandra_keyspaces import admin_session, schema_keyspace
from stock_platform_tests.storage.conftest import DAY, trade


def test_embedded_store_lives_in_the_data_dir_unless_a_path_is_given(tmp_path):
    assert EmbeddedStoreResource(data_dir=str(tmp_path)).settings() == EmbeddedStoreSettings(str(tmp_path / "market.db"))
    assert EmbeddedStoreResource(path="/x/y.db", synchronous="NORMAL").settings().path == "/x/y.db"


@pytest.fixture
def embedded_resource(tmp_path):
    return EmbeddedStoreResource(data_dir=str(tmp_path))


@pytest.fixture
def cassandra_resource(cassandra_node, unique_name):
    with admin_session(cassandra_node) as session, schema_keyspace(session, unique_name("resource")) as keyspace:
        yield CassandraResource(contact_points=cassandra_node.contact_point, port=cassandra_node.port,
                                local_datacenter=cassandra_node.local_dc, keyspace=keyspace)  # fmt: skip


@pytest.mark.parametrize("backend", ["embedded", "cassandra"])
def test_assets_write_and_read_through_the_resource(request, backend):
    @dg.asset
    def writes(store: MarketStoreResource) -> int:
        with store.open_store() as market_store:
            return market_store.write_trades([trade(1)])

    @dg.asset(deps=[writes])
    def reads(store: MarketStoreResource) -> int:
        with store.open_store() as market_store:
            return len(market_store.trades_for_day("AAPL", DAY))

    result = dg.materialize([writes, reads], resources={"store": request.getfixturevalue(f"{backend}_resource")})
    assert result.success and result.output_for_node("reads") == 1


def test_cassandra_resource_maps_env_bound_config_to_settings(monkeypatch):
    monkeypatch.setenv("TEST_CASSANDRA_PASSWORD", "s3cret")
    monkeypatch.setenv("TEST_CASSANDRA_TLS", "TRUE")
    captured = {}

    @dg.asset
    def probe(store: MarketStoreResource) -> None:
        captured["settings"] = store.settings()
        captured["repr"] = repr(store)

    resource = CassandraResource(
        contact_points="c1,c2", local_datacenter="dc1", username="svc", password=dg.EnvVar("TEST_CASSANDRA_PASSWORD"),
        tls=dg.EnvVar("TEST_CASSANDRA_TLS"), consistency="QUORUM",
    )  # fmt: skip
    result = dg.materialize([probe], resources={"store": resource})
    assert result.success
    settings = captured["settings"]
    assert settings == CassandraStoreSettings(contact_points=("c1", "c2"), local_datacenter="dc1", username="svc",
                                              password="s3cret", tls=True, consistency="QUORUM")  # fmt: skip
    assert "s3cret" not in captured["repr"]
    assert "s3cret" not in str(result.dagster_run.run_config)
    assert all("s3cret" not in str(event) for event in result.all_events)


@pytest.mark.parametrize(("value", "enabled"), [("true", True), ("0", False), ("", False), ("On", True)])
def test_tls_flag_parses_env_text(value, enabled):
    assert CassandraResource(tls=value).tls_enabled() is enabled


def test_a_bad_tls_flag_names_the_variable():
    with pytest.raises(ValueError, match="CASSANDRA_TLS='maybe'; use true or false"):
        CassandraResource(tls="maybe").settings()


@pytest.mark.parametrize(("backend", "expected_type"), [("embedded", EmbeddedStoreSettings), (" Cassandra ", CassandraStoreSettings), ("", EmbeddedStoreSettings)])
def test_selected_store_follows_the_configured_backend(tmp_path, backend, expected_type):
    resource = SelectedStoreResource(
        backend=backend, embedded=EmbeddedStoreResource(data_dir=str(tmp_path)), cassandra=CassandraResource(contact_points="c1")
    )
    assert isinstance(resource.settings(), expected_type)


def test_an_unknown_backend_names_the_variable(tmp_path):
    resource = SelectedStoreResource(backend="postgres", embedded=EmbeddedStoreResource(), cassandra=CassandraResource())
    with pytest.raises(ValueError, match="STOCK_PLATFORM_STORE must be `embedded` or `cassandra`, got 'postgres'"):
        resource.settings()

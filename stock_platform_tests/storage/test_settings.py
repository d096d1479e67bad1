"""Store settings: validated, picklable for Spark executors, password out of repr."""

import pickle

import pytest

from stock_platform.defs.storage.resources import CassandraResource, EmbeddedStoreResource
from stock_platform.storage.factory import create_store, open_store
from stock_platform.storage.settings import CassandraEnv, CassandraStoreSettings, EmbeddedStoreSettings, tls_flag
from stock_platform.storage.sqlite_store import SqliteMarketStore


def test_cassandra_settings_pickle_and_keep_the_password_out_of_repr():
    settings = CassandraStoreSettings(contact_points="a, b,", username="svc", password="s3cret", consistency="local_one")
    assert (settings.contact_points, settings.consistency) == (("a", "b"), "LOCAL_ONE")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
    assert pickle.loads(pickle.dumps(settings)) == settings


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"contact_points": " , "}, "no Cassandra contact points: set CASSANDRA_CONTACT_POINTS"),
        ({"consistency": "MOSTLY"}, "unknown Cassandra consistency 'MOSTLY'"),
        ({"username": "svc"}, "set both CASSANDRA_USERNAME and CASSANDRA_PASSWORD"),
        ({"local_datacenter": ""}, "set CASSANDRA_LOCAL_DC"),
        ({"keyspace": "market.x"}, "keyspace 'market.x'"),
        ({"batch_max_rows": 0}, "batch_max_rows=0 must be at least 1"),
        ({"protocol_version": 66}, "protocol_version=66 must be 3, 4 or 5"),
    ],
)
def test_bad_cassandra_settings_fail_with_the_setting_to_fix(options, message):
    with pytest.raises(ValueError, match=message):
        CassandraStoreSettings(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"path": ""}, "STOCK_PLATFORM_DATA_DIR"), ({"path": "x.db", "synchronous": "SOMETIMES"}, "synchronous='SOMETIMES'")],
)
def test_bad_embedded_settings_fail_clearly(options, message):
    with pytest.raises(ValueError, match=message):
        EmbeddedStoreSettings(**options)


def test_open_store_from_pickled_settings_closes_on_error(tmp_path):
    settings = pickle.loads(pickle.dumps(EmbeddedStoreSettings(str(tmp_path / "sub" / "m.db"))))
    with pytest.raises(KeyError):
        with open_store(settings) as store:
            assert isinstance(store, SqliteMarketStore)
            raise KeyError("boom")
    with pytest.raises(Exception, match="is closed"):
        store.symbols_for_day(None)


def test_unknown_settings_type_is_rejected():
    with pytest.raises(TypeError, match="no store for settings of type dict"):
        create_store({})


def test_the_plain_settings_default_to_the_store_model_and_resource_defaults():
    """No default is written twice: the dataclasses take the model's, the resources' tuning fields the dataclasses'."""
    model, settings = CassandraEnv(), CassandraStoreSettings()
    assert (settings.contact_points, settings.port, settings.local_datacenter, settings.keyspace) == (
        (model.contact_points,), model.port, model.local_datacenter, model.keyspace,
    )  # fmt: skip
    assert (settings.consistency, settings.tls, settings.username, settings.password) == (model.consistency, tls_flag(model.tls), None, None)
    assert CassandraResource().settings() == settings
    assert EmbeddedStoreResource(path="m.db").settings() == EmbeddedStoreSettings("m.db")

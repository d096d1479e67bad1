from pathlib import Path

import pytest

from stock_platform.defs.processing import resources as spark_module
from stock_platform.defs.processing.resources import ConnectorJarsError, SparkResource, connector_jars, jar_artifact
from stock_platform.jvm_artifacts import ArtifactResolutionError


@pytest.mark.parametrize(
    ("name", "artifact"),
    [
        ("spark-sql-kafka-0-10_2.13-4.2.0.jar", "spark-sql-kafka-0-10_2.13"),
        ("kafka-clients-3.9.2.jar", "kafka-clients"),
        ("snappy-java-1.1.10.5.jar", "snappy-java"),
        ("scala-parallel-collections_2.13-1.2.0.jar", "scala-parallel-collections_2.13"),
        ("unversioned.jar", "unversioned"),
    ],
)
def test_jar_artifact_is_the_file_name_without_its_version(name, artifact):
    assert jar_artifact(Path(name)) == artifact


def test_only_jars_pyspark_lacks_go_on_the_classpath():
    resolved = [Path(f"/j/{name}") for name in ("kafka-clients-3.9.2.jar", "scala-library-2.13.15.jar", "spark-avro_2.13-4.2.0.jar", "slf4j-api-1.7.36.jar")]
    shipped = [Path(f"/p/{name}") for name in ("scala-library-2.13.18.jar", "slf4j-api-2.0.17.jar", "avro-1.12.1.jar")]
    assert [jar.name for jar in connector_jars(resolved, shipped)] == ["kafka-clients-3.9.2.jar", "spark-avro_2.13-4.2.0.jar"]


def test_session_config_carries_the_resolved_connector_and_extra_jars():
    config = SparkResource(spark_config={"spark.jars": "/extra/a.jar"}).session_config()
    names = [Path(jar).name for jar in config["spark.jars"].split(",")]
    assert {name.rsplit("-", 1)[0] for name in names} >= {"spark-sql-kafka-0-10_2.13", "spark-token-provider-kafka-0-10_2.13", "spark-avro_2.13", "kafka-clients", "commons-pool2"}
    assert not any(name.startswith(("scala-library", "hadoop-client", "slf4j-api")) for name in names)
    assert names[-1] == "a.jar"


def test_unresolvable_connector_is_one_line_naming_the_fetch_command(monkeypatch):
    def fail(component):
        raise ArtifactResolutionError("`mvn` not found: install Maven")

    monkeypatch.setattr(spark_module, "classpath", fail)
    with pytest.raises(ConnectorJarsError, match=r"^Spark's Kafka connector is missing .*`mvn` not found.*run `stock-platform fetch-jars spark`$"):
        SparkResource().session_config()

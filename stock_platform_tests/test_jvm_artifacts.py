import os
import xml.etree.ElementTree as ElementTree
from importlib.metadata import version

import pytest

from stock_platform import jvm_artifacts
from stock_platform.jvm_artifacts import (
    Artifact,
    ArtifactResolutionError,
    Component,
    classpath,
    is_resolved,
    render_pom,
    resolve,
    spark_kafka_connector,
)

_POM = "{http://maven.apache.org/POM/4.0.0}"


def test_the_pom_depends_on_exactly_the_components_artifacts():
    component = Component("demo", "1.0", (Artifact("org.example", "a", "1.2"), Artifact("org.example", "b&c", "3")))
    dependencies = ElementTree.fromstring(render_pom(component)).find(f"{_POM}dependencies")
    assert [
        (dependency.findtext(f"{_POM}groupId"), dependency.findtext(f"{_POM}artifactId"), dependency.findtext(f"{_POM}version"))
        for dependency in dependencies
    ] == [("org.example", "a", "1.2"), ("org.example", "b&c", "3")]


def test_spark_connectors_follow_the_installed_pyspark_version():
    component = spark_kafka_connector()
    assert {artifact.version for artifact in component.artifacts} == {version("pyspark")}
    assert {artifact.name for artifact in component.artifacts} == {"spark-sql-kafka-0-10_2.13", "spark-avro_2.13"}


@pytest.mark.parametrize("name", sorted(jvm_artifacts.COMPONENTS))
def test_every_component_resolves_from_maven_central_into_jars(name):
    jars = classpath(jvm_artifacts.COMPONENTS[name]())
    assert jars and all(jar.suffix == ".jar" for jar in jars)


def _fake_mvn(tmp_path, script):
    mvn = tmp_path / "bin" / "mvn"
    mvn.parent.mkdir()
    mvn.write_text(f"#!/bin/sh\n{script}\n")
    mvn.chmod(0o755)
    return str(mvn)


def test_a_refused_artifact_is_one_line_naming_the_component_and_leaves_nothing_half_done(tmp_path):
    mvn = _fake_mvn(tmp_path, 'echo "[INFO] Scanning"; echo "[ERROR] Could not resolve org.example:a:jar:1.2"; exit 1')
    component = Component("demo", "1.0", (Artifact("org.example", "a", "1.2"),))
    with pytest.raises(ArtifactResolutionError, match=r"^Maven could not resolve demo-1.0: Could not resolve org.example:a:jar:1.2$"):
        resolve(component, tmp_path / "jars", mvn=mvn)
    assert not is_resolved(component, tmp_path / "jars")
    assert list((tmp_path / "jars").iterdir()) == []


def test_a_complete_folder_is_not_resolved_again(tmp_path, monkeypatch):
    marker = tmp_path / "calls"
    _fake_mvn(tmp_path, f'echo called >> {marker}; for arg in "$@"; do case $arg in -DoutputDirectory=*) mkdir -p "${{arg#*=}}"; touch "${{arg#*=}}/a-1.2.jar";; esac; done')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    component = Component("demo", "1.0", (Artifact("org.example", "a", "1.2"),))
    first = classpath(component, tmp_path / "jars")
    second = classpath(component, tmp_path / "jars")
    assert [jar.name for jar in first] == [jar.name for jar in second] == ["a-1.2.jar"]
    assert marker.read_text().count("called") == 1


def test_missing_maven_says_what_to_install(tmp_path):
    component = Component("demo", "1.0", (Artifact("org.example", "a", "1.2"),))
    with pytest.raises(ArtifactResolutionError, match="install Maven"):
        resolve(component, tmp_path, mvn="no-such-mvn-here")

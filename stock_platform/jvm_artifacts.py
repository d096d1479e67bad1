"""JVM artifacts from Maven Central: the Kafka broker, the Cassandra node and Spark's Kafka connector.

Each component is a list of Maven coordinates with their versions pinned here (Spark's follow the installed
pyspark). `resolve` writes a small pom and runs `mvn dependency:copy-dependencies` into a git-ignored folder
once; later calls find the folder complete and return at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from stock_platform.paths import project_root

KAFKA_VERSION = "4.1.1"
CASSANDRA_VERSION = "5.0.6"
SCALA_BINARY_VERSION = "2.13"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
JARS_DIR_ENV_VAR = "STOCK_PLATFORM_JARS_DIR"
_COMPLETE_MARKER = ".complete"


class ArtifactResolutionError(RuntimeError):
    """Maven could not resolve a component (no `mvn`, no network to Maven Central, or an unknown version)."""


@dataclass(frozen=True)
class Artifact:
    """One Maven coordinate."""

    group: str
    name: str
    version: str

    def pom_dependency(self) -> str:
        return (
            f"<dependency><groupId>{escape(self.group)}</groupId><artifactId>{escape(self.name)}</artifactId>"
            f"<version>{escape(self.version)}</version></dependency>"
        )


@dataclass(frozen=True)
class Component:
    """A set of artifacts resolved together into one folder of jars."""

    name: str
    version: str
    artifacts: tuple[Artifact, ...]

    @property
    def folder_name(self) -> str:
        return f"{self.name}-{self.version}"


def spark_version() -> str:
    """The Spark version of the installed pyspark; its JVM connectors must match it exactly."""
    from importlib.metadata import version

    return version("pyspark")


def kafka_server() -> Component:
    """Apache Kafka (KRaft broker and controller, storage tool) with a plain slf4j logger."""
    return Component(
        "kafka",
        KAFKA_VERSION,
        (
            Artifact("org.apache.kafka", f"kafka_{SCALA_BINARY_VERSION}", KAFKA_VERSION),
            Artifact("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
            Artifact("org.slf4j", "slf4j-simple", "1.7.36"),
        ),
    )


def cassandra_server() -> Component:
    """Apache Cassandra's server jar and its runtime dependencies."""
    return Component("cassandra", CASSANDRA_VERSION, (Artifact("org.apache.cassandra", "cassandra-all", CASSANDRA_VERSION),))


def spark_kafka_connector() -> Component:
    """Spark's Kafka source and Avro functions, matching the installed pyspark (Spark itself is provided by it)."""
    version = spark_version()
    return Component(
        "spark-connectors",
        version,
        (
            Artifact("org.apache.spark", f"spark-sql-kafka-0-10_{SCALA_BINARY_VERSION}", version),
            Artifact("org.apache.spark", f"spark-avro_{SCALA_BINARY_VERSION}", version),
        ),
    )


COMPONENTS = {"kafka": kafka_server, "cassandra": cassandra_server, "spark": spark_kafka_connector}


def jars_root() -> Path:
    """Where resolved components live (STOCK_PLATFORM_JARS_DIR, else `.jars/` in the checkout)."""
    return Path(os.environ.get(JARS_DIR_ENV_VAR) or project_root() / ".jars")


def render_pom(component: Component) -> str:
    """A packaging=pom project whose runtime dependencies are exactly the component's artifacts."""
    dependencies = "\n    ".join(artifact.pom_dependency() for artifact in component.artifacts)
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>stock-platform</groupId>
  <artifactId>{escape(component.name)}</artifactId>
  <version>{escape(component.version)}</version>
  <packaging>pom</packaging>
  <dependencies>
    {dependencies}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def component_dir(component: Component, root: Path | None = None) -> Path:
    return (root or jars_root()) / component.folder_name


def is_resolved(component: Component, root: Path | None = None) -> bool:
    return (component_dir(component, root) / _COMPLETE_MARKER).exists()


def resolve(component: Component, root: Path | None = None, mvn: str = "mvn") -> Path:
    """The folder holding the component's jars, running Maven first when it is not complete yet.

    Raises:
        ArtifactResolutionError: with one line naming the component and Maven's first error.
    """
    target = component_dir(component, root)
    if is_resolved(component, root):
        return target
    executable = shutil.which(mvn)
    if executable is None:
        raise ArtifactResolutionError(
            f"`{mvn}` not found: install Maven (and Java 17) to fetch {component.folder_name} from Maven Central"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Resolve into a sibling folder and rename, so an interrupted download never looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f".{component.folder_name}-", dir=target.parent))
    try:
        (staging / "pom.xml").write_text(render_pom(component), encoding="utf-8")
        command = [
            executable, "-B", "-q", "-f", str(staging / "pom.xml"),
            f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN_VERSION}:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={staging / 'lib'}",
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if completed.returncode != 0:
            raise ArtifactResolutionError(f"Maven could not resolve {component.folder_name}: {_first_error(completed.stdout + completed.stderr)}")
        (staging / _COMPLETE_MARKER).touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if "ERROR" in line and line.strip("[ERROR] ").strip():
            return line.replace("[ERROR]", "").strip()
    return output.strip().splitlines()[-1] if output.strip() else "no output"


def classpath(component: Component, root: Path | None = None) -> list[Path]:
    """The component's jars, resolving it first when needed."""
    return sorted((resolve(component, root) / "lib").glob("*.jar"))

"""The stream processor's settings models: the Spark master, the engine and its state, each with its environment variable."""

from __future__ import annotations

from pathlib import Path

from stock_platform.settings import DATA_DIR, REDIS_URL, EnvSettings, env_field

SPARK_ENGINE = "spark"
LIGHT_ENGINE = "light"


def checkpoints_under(data_dir: str) -> str:
    """The Spark checkpoint folder that goes with a data folder (the default, and the launcher's when unset)."""
    return str(Path(data_dir) / "checkpoints")


class SparkEnv(EnvSettings):
    """Where Spark runs."""

    master: str = env_field("SPARK_MASTER", "local[*]", "Any Spark master URL, e.g. k8s://https://...")


class StreamProcessorEnv(EnvSettings):
    """Which engine processes `market`, where it keeps its progress and its optional Redis."""

    engine: str = env_field("STREAM_ENGINE", SPARK_ENGINE, f"`{SPARK_ENGINE}` (default) or `{LIGHT_ENGINE}`")
    checkpoint_dir: str = env_field(
        "SPARK_CHECKPOINT_DIR", checkpoints_under(str(DATA_DIR.default)), "Spark checkpoint folder or URI"
    )
    # May hold a password (redis://:password@host): REDIS_URL is redacted.
    redis_url: str | None = REDIS_URL.field("Optional Redis for the light engine's running aggregates")

# syntax=docker/dockerfile:1.7
# The Stock Platform user-code image: the Dagster code server, every run pod and the Spark executors.
#   docker build -t REGISTRY/stock-platform:VERSION .
# The base is pinned to an exact Python and Debian release; pin it by digest too for bit-for-bit
# rebuilds: --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies get their own layer, so a code change does not rebuild pyspark (a 456 MB sdist).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY stock_platform ./stock_platform
RUN pip install --no-deps . \
    && ln -s "$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" /opt/venv/spark

# Spark's Kafka connector (spark-sql-kafka, spark-avro and what pyspark lacks of their dependencies) from
# Maven Central, at the installed pyspark's version: resolved by the package itself, so image and code agree.
FROM build AS jars
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
    && rm -rf /var/lib/apt/lists/*
RUN STOCK_PLATFORM_JARS_DIR=/opt/stock-platform/jars stock-platform fetch-jars spark

FROM ${PYTHON_IMAGE}
# Spark 4 needs Java 17; tini reaps the JVM's and Python workers' children. The man directory is
# missing on slim images and the JRE's post-install step needs it.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 stock \
    && useradd --system --uid 10001 --gid stock --create-home --home-dir /home/stock --shell /usr/sbin/nologin stock \
    && mkdir -p /opt/dagster/dagster_home \
    && chown stock:stock /opt/dagster/dagster_home
COPY --from=build /opt/venv /opt/venv
COPY --from=jars /opt/stock-platform/jars /opt/stock-platform/jars
# The data folders the package finds through STOCK_PLATFORM_HOME; read-only for the process.
COPY schemas /opt/stock-platform/schemas
COPY cassandra /opt/stock-platform/cassandra
COPY grafana /opt/stock-platform/grafana
# Spark's executor contract on Kubernetes: the pod runs the image's entry point with `executor` and
# passes everything else in SPARK_* variables. Any other command runs as given.
COPY --chmod=0755 <<'EOF' /usr/local/bin/stock-platform-entrypoint
#!/bin/bash
set -euo pipefail
if [[ "${1:-}" != "executor" ]]; then
  exec "$@"
fi
# Executor JVM options arrive as SPARK_JAVA_OPT_0..N and must keep that order.
mapfile -t java_opts < <(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^[^=]*=//')
exec java "${java_opts[@]}" \
  -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" \
  -cp "${SPARK_CONF_DIR:+${SPARK_CONF_DIR}:}${SPARK_HOME}/jars/*${SPARK_CLASSPATH:+:${SPARK_CLASSPATH}}" \
  org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
  --driver-url "${SPARK_DRIVER_URL}" \
  --executor-id "${SPARK_EXECUTOR_ID}" \
  --cores "${SPARK_EXECUTOR_CORES}" \
  --app-id "${SPARK_APPLICATION_ID}" \
  --hostname "${SPARK_EXECUTOR_POD_IP}" \
  --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID}" \
  --podName "${SPARK_EXECUTOR_POD_NAME}"
EOF
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STOCK_PLATFORM_HOME=/opt/stock-platform \
    STOCK_PLATFORM_JARS_DIR=/opt/stock-platform/jars \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    SPARK_HOME=/opt/venv/spark \
    PYSPARK_PYTHON=/opt/venv/bin/python
WORKDIR /opt/stock-platform
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/stock-platform-entrypoint"]
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "stock_platform.definitions"]

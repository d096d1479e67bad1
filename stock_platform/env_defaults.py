"""Every environment variable of the platform with its default, derived from the systems' settings models.

Nothing is declared here: a setting's default, variable and secrecy live in its system's model
(`stock_platform/<system>/settings.py`). The local launcher fills unset variables from ENV_DEFAULTS, the
Helm tests check that the chart sets each of them, and SECRET_ENV_VARS must come from Kubernetes Secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stock_platform.finnhub.settings import FinnhubEnv
from stock_platform.grafana.settings import GrafanaEnv
from stock_platform.kafka.settings import KafkaEnv
from stock_platform.processing.settings import SparkEnv, StreamProcessorEnv
from stock_platform.settings import EnvSettings, env_defaults, secret_variables
from stock_platform.storage.settings import StoreEnv

# One model per Dagster resource of the code location; the market store's nests the embedded and Cassandra ones.
SETTINGS_MODELS: tuple[type[EnvSettings], ...] = (FinnhubEnv, KafkaEnv, StoreEnv, GrafanaEnv, SparkEnv, StreamProcessorEnv)

# Secrets are empty: they are optional for the embedded stack and never have a default.
ENV_DEFAULTS: Mapping[str, str] = MappingProxyType(env_defaults(SETTINGS_MODELS))
SECRET_ENV_VARS: frozenset[str] = secret_variables(SETTINGS_MODELS)

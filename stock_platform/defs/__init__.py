"""Dagster wiring: assets, jobs, sensors, checks and resources on top of the plain core modules."""

import warnings

import dagster as dg

# Partitioned asset checks are a preview API we rely on deliberately; without these filters its warning
# (and a beta warning Dagster raises for its own sensor defaults) repeats in every process's log.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

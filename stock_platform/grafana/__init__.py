"""Grafana: the HTTP API client and the dashboard files it provisions."""

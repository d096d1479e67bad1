"""Grafana HTTP API client: health, folders, dashboards (idempotent upsert) and annotations.

The token travels only in the Authorization header; it never appears in URLs, errors or logs. The HTTP side
(session, retries, backoff, redaction) is the platform's shared `stock_platform.http_client`; this module keeps
what is Grafana's: the API's endpoints, what 401/403/404 mean, and its errors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from stock_platform.http_client import HttpClient, HttpSettings

logger = logging.getLogger(__name__)

# Server errors only: a 429 is not retried and a Retry-After is not waited for (exponential backoff with jitter).
_RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# Fields Grafana assigns on save; they never make two dashboard versions differ in substance.
_SERVER_ASSIGNED_FIELDS = ("id", "version")


class GrafanaError(RuntimeError):
    """Grafana answered with an error, or kept failing after every retry."""


class GrafanaAuthError(GrafanaError):
    """Grafana rejected the token (401) or the token lacks a permission (403)."""


@dataclass(frozen=True)
class GrafanaSettings:
    """Endpoint, token, timeout and retry policy of the client."""

    base_url: str
    token: str = field(default="", repr=False)
    timeout_s: float = 10.0
    max_attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"Grafana URL must start with http:// or https:// (got {self.base_url!r}); check GRAFANA_URL"
            )
        if not self.token:
            raise ValueError("GRAFANA_API_TOKEN is not set: create a Grafana service account token (Editor role)")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts})")

    def http_settings(self) -> HttpSettings:
        """The shared client's settings: a bearer token, retries on 5xx and network errors."""
        return HttpSettings(
            service="Grafana",
            base_url=self.base_url,
            url_setting="GRAFANA_URL",
            token=self.token,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            retry_statuses=_RETRYABLE_STATUSES,
            max_retry_after_s=None,
        )


@dataclass(frozen=True)
class FolderResult:
    """A folder after `ensure_folder`; status is created, renamed or unchanged."""

    uid: str
    title: str
    status: str


@dataclass(frozen=True)
class DashboardResult:
    """A dashboard after `upsert_dashboard`; status is created, updated or unchanged."""

    uid: str
    title: str
    status: str
    version: int | None
    url: str | None


def comparable_dashboard(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without the fields Grafana assigns on save."""
    return {key: value for key, value in dashboard.items() if key not in _SERVER_ASSIGNED_FIELDS}


class GrafanaClient:
    """Calls the Grafana HTTP API with retries on 5xx and network errors."""

    def __init__(
        self,
        settings: GrafanaSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._http = HttpClient(settings.http_settings(), session=session, sleep=sleep, error_type=GrafanaError, log=logger)
        self._http.session.headers["Accept"] = "application/json"

    def __enter__(self) -> GrafanaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, Any]:
        """Server health and version, then an authenticated call so a bad token fails here, not mid-provisioning."""
        health = self._json("GET", "/api/health")
        if health.get("database") != "ok":
            raise GrafanaError(f"Grafana at {self._settings.base_url} reports database {health.get('database')!r}")
        org = self._json("GET", "/api/org")
        return {"version": health.get("version"), "database": health["database"], "org": org.get("name")}

    def datasource_exists(self, uid: str) -> bool | None:
        """Whether a data source with `uid` exists; None when the token may not read data sources."""
        try:
            return self._request("GET", f"/api/datasources/uid/{uid}", missing_ok=True) is not None
        except GrafanaAuthError:
            return None

    def ensure_folder(self, uid: str, title: str) -> FolderResult:
        """Create the folder, or rename it to `title`; a second call with the same arguments changes nothing."""
        existing = self._request("GET", f"/api/folders/{uid}", missing_ok=True)
        if existing is None:
            created = self._request("POST", "/api/folders", body={"uid": uid, "title": title}, conflict_ok=True)
            if created is not None:
                return FolderResult(uid, title, "created")
            existing = self._request("GET", f"/api/folders/{uid}", missing_ok=True)
            if existing is None:
                raise GrafanaError(
                    f"Grafana refused folder {title!r} (uid {uid}) as a duplicate; rename or delete the other"
                )
        folder = existing.json()
        if folder.get("title") == title:
            return FolderResult(uid, title, "unchanged")
        rename = {"title": title, "version": folder.get("version"), "overwrite": True}
        self._json("PUT", f"/api/folders/{uid}", body=rename)
        return FolderResult(uid, title, "renamed")

    def get_dashboard(self, uid: str) -> dict[str, Any] | None:
        """The stored dashboard and its meta (`{"dashboard": ..., "meta": ...}`), or None when absent."""
        response = self._request("GET", f"/api/dashboards/uid/{uid}", missing_ok=True)
        return None if response is None else response.json()

    def upsert_dashboard(self, dashboard: dict[str, Any], folder_uid: str, message: str) -> DashboardResult:
        """Save `dashboard` under its own uid into the folder, unless the stored one already matches."""
        uid, title = dashboard.get("uid"), dashboard.get("title")
        if not uid or not title:
            raise ValueError(f"dashboard {title or uid or '<unnamed>'} needs both a uid and a title")
        stored = self.get_dashboard(uid)
        if stored is not None:
            same_folder = stored.get("meta", {}).get("folderUid") == folder_uid
            if same_folder and comparable_dashboard(stored["dashboard"]) == comparable_dashboard(dashboard):
                meta = stored.get("meta", {})
                return DashboardResult(uid, title, "unchanged", stored["dashboard"].get("version"), meta.get("url"))
        payload = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": message,
        }
        saved = self._json("POST", "/api/dashboards/db", body=payload)
        status = "created" if stored is None else "updated"
        return DashboardResult(uid, title, status, saved.get("version"), saved.get("url"))

    def create_annotation(
        self,
        text: str,
        tags: list[str],
        time_ms: int,
        time_end_ms: int | None = None,
        dashboard_uid: str | None = None,
    ) -> int:
        """Post an annotation (organisation-wide unless `dashboard_uid` is given); returns its id."""
        body: dict[str, Any] = {"text": text, "tags": tags, "time": time_ms}
        if time_end_ms is not None:
            body["timeEnd"] = time_end_ms
        if dashboard_uid is not None:
            body["dashboardUID"] = dashboard_uid
        created = self._json("POST", "/api/annotations", body=body)
        if "id" not in created:
            raise GrafanaError("Grafana accepted the annotation but returned no id")
        return int(created["id"])

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._request(method, path, body=body)
        return self._http.json(method, path, response)

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        missing_ok: bool = False,
        conflict_ok: bool = False,
    ) -> requests.Response | None:
        """One API call with retries; None for a 404 when `missing_ok`, or a 409/412 when `conflict_ok`."""
        response = self._http.request(method, path, json=body)
        status = response.status_code
        if (status == 404 and missing_ok) or (status in (409, 412) and conflict_ok):
            return None
        if status == 401:
            raise GrafanaAuthError("Grafana rejected the API token (HTTP 401); check GRAFANA_API_TOKEN")
        if status == 403:
            raise GrafanaAuthError(
                f"Grafana token may not {method} {path} (HTTP 403); give the service account the Editor role"
            )
        if status == 404:
            raise GrafanaError(f"Grafana has no {path} (HTTP 404); check GRAFANA_URL points at Grafana's root")
        if status >= 400:
            raise GrafanaError(f"Grafana {method} {path} answered HTTP {status}: {self._error_message(response)}")
        return response

    def _error_message(self, response: requests.Response) -> str:
        try:
            message = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            message = response.text
        # Masked before it is cut, so a token straddling the cut cannot leave a prefix behind.
        return self._http.redact(" ".join(message.split()))[:200] or "no message"

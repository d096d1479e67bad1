"""Who the rendered RBAC lets do what."""

from __future__ import annotations

from typing import Any


def _allows(rule: dict[str, Any], verb: str, resource: str) -> bool:
    return (
        "" in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", [])
    ) and bool({verb, "*"} & set(rule.get("verbs", []))) and bool({resource, "*"} & set(rule.get("resources", [])))


def accounts_that_can_create_pods(docs: list[dict[str, Any]]) -> set[str]:
    """Names of the ServiceAccounts a (Cluster)RoleBinding of the manifests gives `create` on pods."""
    roles = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in docs
        if doc["kind"] in ("Role", "ClusterRole")
    }
    accounts = set()
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        if any(_allows(rule, "create", "pods") for rule in role["rules"]):
            accounts |= {subject["name"] for subject in binding["subjects"] if subject["kind"] == "ServiceAccount"}
    return accounts

"""Admission of CustomResourceDefinitions: validation of names and versions, and the status a CRD
reports once it is served (NamesAccepted, Established, acceptedNames, storedVersions)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from numaflux.apiserver.errors import field_cause

JSON = dict[str, Any]

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def validate_crd(crd: JSON, old: JSON | None) -> list[JSON]:
    """Status causes for an invalid CRD."""
    causes = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    if not group or "." not in group:
        causes.append(
            field_cause(
                "spec.group",
                "FieldValueInvalid",
                f'Invalid value: "{group}": should be a domain with at least one dot',
            )
        )
    if not plural or not _DNS_LABEL.match(plural):
        causes.append(field_cause("spec.names.plural", "FieldValueInvalid", f'Invalid value: "{plural}"'))
    if not names.get("kind"):
        causes.append(field_cause("spec.names.kind", "FieldValueRequired", "Required value"))
    if crd["metadata"]["name"] != f"{plural}.{group}":
        causes.append(
            field_cause(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{crd["metadata"]["name"]}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            field_cause(
                "spec.scope",
                "FieldValueNotSupported",
                'Unsupported value: supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(field_cause("spec.versions", "FieldValueRequired", "Required value"))
    storage = [v for v in versions if v.get("storage")]
    if versions and len(storage) != 1:
        causes.append(
            field_cause(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    for i, version in enumerate(versions):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None and schema.get("type") != "object":
            causes.append(
                field_cause(
                    f"spec.versions[{i}].schema.openAPIV3Schema.type",
                    "FieldValueRequired",
                    'Required value: must be "object" at the root',
                )
            )
    if old is not None:
        before = old.get("spec") or {}
        for key in ("group", "scope"):
            if before.get(key) != spec.get(key):
                causes.append(
                    field_cause(f"spec.{key}", "FieldValueInvalid", "Invalid value: field is immutable")
                )
        if (before.get("names") or {}).get("plural") != plural:
            causes.append(
                field_cause("spec.names.plural", "FieldValueInvalid", "Invalid value: field is immutable")
            )
    return causes


def established_status(crd: JSON, now: dt.datetime, old_status: JSON | None) -> JSON:
    """The status of a CRD the server serves."""
    spec = crd.get("spec") or {}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    previous = {c.get("type"): c for c in (old_status or {}).get("conditions") or []}

    def condition(kind: str, reason: str, message: str) -> JSON:
        kept = previous.get(kind)
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": kept.get("lastTransitionTime", stamp) if kept else stamp,
            "reason": reason,
            "message": message,
        }

    stored = list((old_status or {}).get("storedVersions") or [])
    for version in spec.get("versions") or []:
        if version.get("storage") and version.get("name") not in stored:
            stored.append(version["name"])
    return {
        "acceptedNames": dict(spec.get("names") or {}),
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    }

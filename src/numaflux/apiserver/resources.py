"""The kinds the API server serves: built-in Kubernetes kinds and kinds derived from CRDs.

A `ResourceType` says where a resource lives in the URL space (group/version/plural), how it is shown in
discovery, which subresources it has, which part of it bumps `metadata.generation`, and where it is
stored (events.k8s.io/v1 Events share the storage of core v1 Events and are converted on the way in
and out, as in Kubernetes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ScalePaths:
    """Where a resource keeps the values of its autoscaling/v1 Scale subresource."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = None
    """JSONPath of a selector string, or None to derive it from .spec.selector (a LabelSelector)."""


@dataclass(frozen=True)
class ResourceType:
    """One served resource (a group/version/plural)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    generation: str = "none"
    """"spec": changes under .spec bump generation; "non-status": anything but metadata and status does;
    "none": the kind has no generation."""
    storage: str = ""
    field_selectors: tuple[str, ...] = ()
    scale: ScalePaths | None = None
    printer_columns: tuple[JSON, ...] = ()
    schema: JSON | None = None
    crd_name: str | None = None
    storage_version: bool = True
    to_external: Callable[[JSON], JSON] | None = None
    to_internal: Callable[[JSON], JSON] | None = None
    verbs: tuple[str, ...] = ALL_VERBS
    explain_schema: JSON | None = field(default=None, compare=False)

    @property
    def api_version(self) -> str:
        """`group/version`, or just `version` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def rid(self) -> str:
        """Storage id shared by all versions of the resource."""
        return self.storage or f"{self.group}/{self.plural}"

    @property
    def singular_name(self) -> str:
        """Lower-case singular name."""
        return self.singular or self.kind.lower()

    @property
    def has_status(self) -> bool:
        """Whether writes to the main resource ignore .status (a status subresource exists)."""
        return "status" in self.subresources

    def field_allowed(self, path: str) -> bool:
        """Whether `path` may be used in a field selector for this resource."""
        return path in COMMON_FIELDS or path in self.field_selectors


def _event_to_v1beta(core: JSON) -> JSON:
    """Core v1 Event → events.k8s.io/v1 Event."""
    out: JSON = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": core.get("metadata", {})}
    renames = {
        "involvedObject": "regarding",
        "message": "note",
        "count": "deprecatedCount",
        "firstTimestamp": "deprecatedFirstTimestamp",
        "lastTimestamp": "deprecatedLastTimestamp",
        "source": "deprecatedSource",
        "reportingComponent": "reportingController",
    }
    for key, value in core.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        out[renames.get(key, key)] = value
    return out


def _event_to_core(external: JSON) -> JSON:
    """events.k8s.io/v1 Event → core v1 Event (the storage form)."""
    out: JSON = {"apiVersion": "v1", "kind": "Event", "metadata": external.get("metadata", {})}
    renames = {
        "regarding": "involvedObject",
        "note": "message",
        "deprecatedCount": "count",
        "deprecatedFirstTimestamp": "firstTimestamp",
        "deprecatedLastTimestamp": "lastTimestamp",
        "deprecatedSource": "source",
        "reportingController": "reportingComponent",
    }
    for key, value in external.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        out[renames.get(key, key)] = value
    return out


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_EVENTS_K8S_FIELDS = (
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "reason",
    "reportingController",
    "type",
)

BUILTINS: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        subresources=frozenset({"status", "finalize"}),
        field_selectors=("status.phase",),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        short_names=("po",),
        categories=("all",),
        subresources=frozenset({"status", "log", "binding"}),
        generation="spec",
        field_selectors=_POD_FIELDS,
    ),
    ResourceType(
        "",
        "v1",
        "services",
        "Service",
        True,
        short_names=("svc",),
        categories=("all",),
        subresources=frozenset({"status"}),
        field_selectors=("spec.clusterIP", "spec.type"),
    ),
    ResourceType("", "v1", "endpoints", "Endpoints", True, short_names=("ep",)),
    ResourceType("", "v1", "events", "Event", True, short_names=("ev",), field_selectors=_EVENT_FIELDS),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True, field_selectors=("type",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    ResourceType(
        "",
        "v1",
        "nodes",
        "Node",
        False,
        short_names=("no",),
        subresources=frozenset({"status"}),
        field_selectors=("spec.unschedulable",),
    ),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        short_names=("deploy",),
        categories=("all",),
        subresources=frozenset({"status", "scale"}),
        generation="spec",
        scale=ScalePaths(),
    ),
    ResourceType(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        True,
        short_names=("sts",),
        categories=("all",),
        subresources=frozenset({"status", "scale"}),
        generation="spec",
        scale=ScalePaths(),
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        short_names=("ev",),
        storage="/events",
        field_selectors=_EVENTS_K8S_FIELDS,
        to_external=_event_to_v1beta,
        to_internal=_event_to_core,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=frozenset({"status"}),
        generation="spec",
    ),
)

CRD_RID = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_RID = "/namespaces"
POD_RID = "/pods"


def resource_types_from_crd(crd: JSON) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition as resource types."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        sub_names = {name for name in ("status", "scale") if name in subs}
        scale = None
        if "scale" in subs:
            s = subs["scale"] or {}
            scale = ScalePaths(
                s.get("specReplicasPath", ".spec.replicas"),
                s.get("statusReplicasPath", ".status.replicas"),
                s.get("labelSelectorPath") or "",
            )
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        selectable = tuple(
            f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or [] if "jsonPath" in f
        )
        out.append(
            ResourceType(
                group,
                version["name"],
                names.get("plural", ""),
                names.get("kind", ""),
                namespaced,
                singular=names.get("singular", ""),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(sub_names),
                generation="non-status" if "status" in sub_names else "non-metadata",
                field_selectors=selectable,
                scale=scale,
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                schema=schema,
                crd_name=crd["metadata"]["name"],
                storage_version=bool(version.get("storage", False)),
            )
        )
    return out


class Registry:
    """Lookup of served resources; CRD-derived entries are replaced whenever a CRD changes."""

    def __init__(self) -> None:
        self._builtin = {(r.group, r.version, r.plural): r for r in BUILTINS}
        self._custom: dict[str, list[ResourceType]] = {}
        self.generation = 0
        self._rid_cache: dict[tuple[int, str], ResourceType | None] = {}
        """Bumped on every change of the served set (used to cache discovery documents)."""

    def set_crd(self, crd: JSON) -> None:
        """Serve (or re-serve) the versions of a CRD."""
        self._custom[crd["metadata"]["name"]] = resource_types_from_crd(crd)
        self.generation += 1

    def remove_crd(self, name: str) -> None:
        """Stop serving a CRD's resources."""
        if self._custom.pop(name, None) is not None:
            self.generation += 1

    def all(self) -> Iterator[ResourceType]:
        """Every served resource (built-ins first)."""
        yield from self._builtin.values()
        for types in self._custom.values():
            yield from types

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at /{group}/{version}/{plural}, if any."""
        found = self._builtin.get((group, version, plural))
        if found is not None:
            return found
        for types in self._custom.values():
            for rt in types:
                if rt.group == group and rt.version == version and rt.plural == plural:
                    return rt
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """Served versions per group, preferred (storage) version first."""
        out: dict[str, list[str]] = {}
        for rt in self.all():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                if rt.storage_version:
                    versions.insert(0, rt.version)
                else:
                    versions.append(rt.version)
        return out

    def for_rid(self, rid: str) -> ResourceType | None:
        """The storage-version resource type of a storage id."""
        key = (self.generation, rid)
        if key not in self._rid_cache:
            self._rid_cache = {k: v for k, v in self._rid_cache.items() if k[0] == self.generation}
            self._rid_cache[key] = self._for_rid(rid)
        return self._rid_cache[key]

    def _for_rid(self, rid: str) -> ResourceType | None:
        candidates = [rt for rt in self.all() if rt.rid == rid and rt.to_external is None]
        for rt in candidates:
            if rt.storage_version:
                return rt
        return candidates[0] if candidates else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource of an apiVersion/kind pair (for ownerReferences)."""
        for rt in self.all():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

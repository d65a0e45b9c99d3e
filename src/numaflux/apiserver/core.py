"""Object semantics of the API server, independent of HTTP: create, read, update, delete, status and
scale subresources, finalizers, graceful deletion and the bookkeeping fields of metadata.

Objects are passed in and out in the external form of the requested resource type; the store keeps
the storage form (they differ only for events.k8s.io/v1 Events).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from numaflux.apiserver import builtin, builtin_schema, crd, schema
from numaflux.apiserver.apply import fields_v1
from numaflux.apiserver.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    field_cause,
    invalid,
    not_found,
    success_status,
)
from numaflux.apiserver.resources import CRD_RID, NAMESPACE_RID, POD_RID, Registry, ResourceType
from numaflux.apiserver.store import Event, Store
from numaflux.jsondata import clone

JSON = dict[str, Any]
Clock = Callable[[], dt.datetime]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
NAMESPACE_FINALIZER = "kubernetes"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SERVER_FIELDS = (
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)


def timestamp(when: dt.datetime) -> str:
    """RFC 3339 timestamp with second precision, as in metadata."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


@dataclass
class WriteOptions:
    """Query parameters shared by create, update and patch."""

    dry_run: bool = False
    strict: bool = False
    field_manager: str = ""


@dataclass
class DeleteOptions:
    """A DeleteOptions body merged with the query parameters."""

    grace_period: int | None = None
    propagation: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: JSON | None, query: dict[str, str]) -> DeleteOptions:
        """Combine the body (DeleteOptions) and query parameters; the body wins."""
        body = body or {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        propagation = body.get("propagationPolicy", query.get("propagationPolicy"))
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if propagation is None and orphan is not None:
            propagation = "Orphan" if str(orphan).lower() == "true" else "Background"
        if propagation not in (None, "Background", "Foreground", "Orphan"):
            raise bad_request(f"propagationPolicy: unsupported value {propagation!r}")
        pre = body.get("preconditions") or {}
        dry = body.get("dryRun") or ([query["dryRun"]] if "dryRun" in query else [])
        try:
            grace_value = int(grace) if grace is not None else None
        except ValueError as err:
            raise bad_request(f"gracePeriodSeconds: invalid value {grace!r}") from err
        return cls(grace_value, propagation, pre.get("uid"), pre.get("resourceVersion"), "All" in dry)


SERVICE_RID = "/services"


def _cluster_ip(service: JSON) -> str:
    return str((service.get("spec") or {}).get("clusterIP") or "")


class Api:
    """All object operations; handlers translate HTTP to these calls."""

    def __init__(self, store: Store, registry: Registry, clock: Clock = utcnow) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        # Service cluster IPs in use, kept by the store's events (listing every Service on every
        # Service write made creating N services cost N^2).
        self._service_ips = {_cluster_ip(s) for s in store.list(SERVICE_RID)} - {""}
        store.add_listener(self._on_event)

    # ----- lifecycle -----
    def bootstrap(self) -> None:
        """Serve the stored CRDs and make sure the standard namespaces exist."""
        for obj in self.store.list(CRD_RID):
            self.registry.set_crd(obj)
        ns_type = self._type(NAMESPACE_RID)
        for name in DEFAULT_NAMESPACES:
            if self.store.get(NAMESPACE_RID, "", name) is None:
                self.create(ns_type, "", {"metadata": {"name": name}})

    def _on_event(self, event: Event) -> None:
        if event.rid == SERVICE_RID:
            ip = _cluster_ip(event.obj)
            if event.type == "DELETED":
                self._service_ips.discard(ip)
            elif ip:
                self._service_ips.add(ip)
            return
        if event.rid != CRD_RID:
            return
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            self.registry.remove_crd(name)
        else:
            self.registry.set_crd(event.obj)

    def _type(self, rid: str) -> ResourceType:
        rt = self.registry.for_rid(rid)
        if rt is None:
            raise ApiError(404, "NotFound", f"the server could not find the resource {rid}")
        return rt

    # ----- conversions -----
    def external(self, rt: ResourceType, stored: JSON) -> JSON:
        """Storage form → the requested version's form (a copy)."""
        obj = clone(stored)
        if rt.to_external is not None:
            return rt.to_external(obj)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def _internal(self, rt: ResourceType, obj: JSON) -> JSON:
        if rt.to_internal is not None:
            return rt.to_internal(obj)
        storage = self.registry.for_rid(rt.rid)
        if storage is not None and storage.crd_name is not None:
            obj["apiVersion"] = storage.api_version
        return obj

    # ----- reads -----
    def get_stored(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """The stored object or 404."""
        obj = self.store.get(rt.rid, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return obj

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """The object in the requested version's form, or 404."""
        return self.external(rt, self.get_stored(rt, namespace, name))

    # ----- writes -----
    def create(self, rt: ResourceType, namespace: str, body: JSON, opts: WriteOptions | None = None) -> JSON:
        """Create an object; returns it as stored (in the requested form)."""
        opts = opts or WriteOptions()
        obj = self._check_body(rt, body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        namespace = self._check_namespace(rt, namespace, meta)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        field_cause(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            meta["name"] = prefix + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
        self._check_name(rt, meta["name"])
        if rt.namespaced:
            ns = self.store.get(NAMESPACE_RID, "", namespace)
            if ns is None:
                raise not_found("namespaces", "", namespace)
            if ns["metadata"].get("deletionTimestamp"):
                raise ApiError(
                    403,
                    "Forbidden",
                    f'{rt.plural} "{meta["name"]}" is forbidden: unable to create new content in namespace '
                    f"{namespace} because it is being terminated",
                    name=meta["name"],
                    group=rt.group,
                    kind=rt.plural,
                )
        if self.store.get(rt.rid, namespace, meta["name"]) is not None:
            raise already_exists(rt.plural, rt.group, meta["name"])
        for key in _SERVER_FIELDS:
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp(self.clock())
        if rt.generation != "none":
            meta["generation"] = 1
        if rt.has_status and rt.rid != "/nodes":
            obj.pop("status", None)
        obj = self._admit(rt, obj, None, opts)
        meta = obj["metadata"]  # admission may return a new object
        if rt.rid == CRD_RID:
            meta.setdefault("finalizers", [])
            if crd.CLEANUP_FINALIZER not in meta["finalizers"]:
                meta["finalizers"].append(crd.CLEANUP_FINALIZER)
            obj["status"] = crd.established_status(obj, self.clock(), None)
        if opts.field_manager:
            self._record_manager(obj, opts, "Update" if opts.field_manager != "apply" else "Apply")
        stored = self._internal(rt, obj)
        if opts.dry_run:
            stored["metadata"]["resourceVersion"] = ""
            return self.external(rt, stored)
        stored = self.store.create(rt.rid, stored)
        if rt.rid == NAMESPACE_RID:
            self._ensure_default_service_account(stored["metadata"]["name"])
        return self.external(rt, stored)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: JSON,
        subresource: str = "",
        opts: WriteOptions | None = None,
    ) -> JSON:
        """Replace an object (or only its status with subresource="status")."""
        opts = opts or WriteOptions()
        current = self.get_stored(rt, namespace, name)
        old = self.external(rt, current)
        new = self._check_body(rt, body)
        meta = new.setdefault("metadata", {})
        if meta.get("name") not in (None, "", name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        if rt.namespaced:
            self._check_namespace(rt, namespace, meta)
        wanted_rv = meta.get("resourceVersion")
        if not wanted_rv and rt.crd_name is not None:
            # Custom resources do not allow unconditional updates (as in Kubernetes).
            raise invalid(
                rt.kind,
                rt.group,
                name,
                [
                    field_cause(
                        "metadata.resourceVersion",
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        wanted_uid = meta.get("uid")
        if wanted_uid and wanted_uid != old["metadata"].get("uid"):
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {wanted_uid}, "
                f"UID in object meta: {old['metadata'].get('uid')}",
            )
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise conflict(
                rt.plural,
                rt.group,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if subresource == "status":
            status = new.get("status")
            new = clone(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif rt.has_status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        return self.commit_update(rt, old, new, opts, subresource)

    def commit_update(
        self, rt: ResourceType, old: JSON, new: JSON, opts: WriteOptions, subresource: str
    ) -> JSON:
        meta, old_meta = new["metadata"], old["metadata"]
        for key in _SERVER_FIELDS:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if rt.namespaced:
            meta["namespace"] = old_meta["namespace"]
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise invalid(
                    rt.kind,
                    rt.group,
                    meta["name"],
                    [
                        field_cause(
                            "metadata.finalizers",
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object is being deleted, "
                            f"found new finalizers {sorted(added)!r}",
                        )
                    ],
                )
        new = self._admit(rt, new, old, opts)
        meta = new["metadata"]  # admission may return a new object
        if rt.rid == CRD_RID and subresource != "status":
            new["status"] = crd.established_status(new, self.clock(), old.get("status"))
        if rt.generation != "none" and _generation_part(rt, old) != _generation_part(rt, new):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1
        if opts.field_manager:
            self._record_manager(
                new, opts, "Apply" if opts.field_manager == "apply" else "Update", subresource
            )
        if _same(new, old):
            return old
        stored = self._internal(rt, new)
        if opts.dry_run:
            return self.external(rt, stored)
        namespace_held = rt.rid == NAMESPACE_RID and (new.get("spec") or {}).get("finalizers")
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
            and not namespace_held
        ):
            stored = self.store.delete(rt.rid, stored)
        else:
            stored = self.store.update(
                rt.rid, stored, self.get_stored(rt, old_meta.get("namespace", ""), meta["name"])
            )
        return self.external(rt, stored)

    def delete(self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions) -> tuple[int, JSON]:
        """Delete (or start deleting) an object; returns the HTTP code and the body."""
        current = self.get_stored(rt, namespace, name)
        meta = current["metadata"]
        if options.precondition_uid and options.precondition_uid != meta.get("uid"):
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                f"UID in object meta: {meta.get('uid')}",
            )
        if options.precondition_rv and options.precondition_rv != meta.get("resourceVersion"):
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {options.precondition_rv}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )
        obj = clone(current)
        om = obj["metadata"]
        finalizers = list(om.get("finalizers") or [])
        if options.propagation == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        elif options.propagation == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        grace = self._grace_period(rt, obj, options)
        now = self.clock()
        if rt.rid == NAMESPACE_RID:
            obj.setdefault("status", {})["phase"] = "Terminating"
        pending = (
            bool(finalizers)
            or grace > 0
            or (rt.rid == NAMESPACE_RID and (obj.get("spec") or {}).get("finalizers"))
        )
        if pending:
            if not om.get("deletionTimestamp") or (grace < int(om.get("deletionGracePeriodSeconds") or 0)):
                om["deletionTimestamp"] = timestamp(now + dt.timedelta(seconds=grace))
                om["deletionGracePeriodSeconds"] = grace
            om["finalizers"] = finalizers
            if not om["finalizers"]:
                om.pop("finalizers")
            if options.dry_run:
                return 200, self.external(rt, obj)
            if obj != current:
                obj = self.store.update(rt.rid, obj, current)
            return 200, self.external(rt, obj)
        if options.dry_run:
            return 200, success_status(name, rt.group, rt.plural, meta.get("uid", ""))
        if not om.get("deletionTimestamp"):
            om["deletionTimestamp"] = timestamp(now)
            om["deletionGracePeriodSeconds"] = 0
        self.store.delete(rt.rid, obj)
        return 200, success_status(name, rt.group, rt.plural, meta.get("uid", ""))

    def _grace_period(self, rt: ResourceType, obj: JSON, options: DeleteOptions) -> int:
        if rt.rid != POD_RID:
            return 0
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if options.grace_period is not None:
            return max(0, options.grace_period)
        return int(spec.get("terminationGracePeriodSeconds", 30))

    # ----- helpers -----
    def _check_body(self, rt: ResourceType, body: Any) -> JSON:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        obj = clone(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind and kind != rt.kind:
            raise bad_request(
                f"the kind of the object ({kind}) does not match the resource {rt.plural} (kind {rt.kind})"
            )
        if api_version and api_version != rt.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str, meta: JSON) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace or given or "default"
        return str(meta["namespace"])

    def _check_name(self, rt: ResourceType, name: str) -> None:
        pattern = _LABEL if rt.rid in (NAMESPACE_RID, "/services") else _SUBDOMAIN
        if len(name) > 253 or not pattern.match(name):
            what = "RFC 1123 label" if pattern is _LABEL else "RFC 1123 subdomain"
            raise invalid(
                rt.kind,
                rt.group,
                name,
                [
                    field_cause(
                        "metadata.name",
                        "FieldValueInvalid",
                        f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                        "character",
                    )
                ],
            )

    def _admit(self, rt: ResourceType, obj: JSON, old: JSON | None, opts: WriteOptions) -> JSON:
        name = obj["metadata"].get("name", "")
        causes: list[JSON] = []
        if rt.crd_name is not None:
            storage = self.registry.for_rid(rt.rid)
            the_schema = rt.schema or (storage.schema if storage else None)
            obj, causes, unknown = schema.admit(obj, the_schema)
            if unknown and opts.strict:
                fields = ", ".join(f'unknown field "{path}"' for path in unknown)
                raise bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"strict decoding error: {fields}"
                )
        else:
            obj = self._prune_builtin(rt, obj, opts)
        if rt.rid == CRD_RID:
            causes = crd.validate_crd(obj, old)
        elif rt.rid in builtin.ADMIT:
            causes = builtin.ADMIT[rt.rid](obj, old, builtin.AdmitContext(self._service_ips))
        for key, value in (obj["metadata"].get("labels") or {}).items():
            if not isinstance(value, str) or len(value) > 63:
                causes.append(
                    field_cause(
                        f"metadata.labels[{key}]",
                        "FieldValueInvalid",
                        f"Invalid value: {value!r}: must be a string of at most 63 characters",
                    )
                )
        if causes:
            raise invalid(rt.kind, rt.group, name, causes)
        return obj

    def _prune_builtin(self, rt: ResourceType, obj: JSON, opts: WriteOptions) -> JSON:
        """Drop fields the kind does not have (or refuse them under fieldValidation=Strict)."""
        the_schema = builtin_schema.prune_schema(rt.api_version, rt.kind)
        if the_schema is None:
            return obj
        unknown: list[str] = []
        pruned: JSON = schema.prune(obj, the_schema, "", unknown)
        if unknown and opts.strict:
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {fields}"
            )
        return pruned

    def _record_manager(self, obj: JSON, opts: WriteOptions, operation: str, subresource: str = "") -> None:
        meta = obj["metadata"]
        entries = [
            e
            for e in meta.get("managedFields") or []
            if not (
                e.get("manager") == opts.field_manager
                and e.get("operation") == operation
                and e.get("subresource", "") == subresource
            )
        ]
        entry: JSON = {
            "manager": opts.field_manager,
            "operation": operation,
            "apiVersion": obj.get("apiVersion"),
            "time": timestamp(self.clock()),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}),
        }
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
        meta["managedFields"] = entries

    def _ensure_default_service_account(self, namespace: str) -> None:
        if self.store.get("/serviceaccounts", namespace, "default") is None:
            sa_type = self.registry.lookup("", "v1", "serviceaccounts")
            assert sa_type is not None
            self.create(sa_type, namespace, {"metadata": {"name": "default"}})


def _generation_part(rt: ResourceType, obj: JSON) -> Any:
    if rt.generation == "spec":
        return obj.get("spec")
    skip = {"metadata", "apiVersion", "kind"}
    if rt.generation == "non-status":
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


def _same(new: JSON, old: JSON) -> bool:
    def strip(obj: JSON) -> JSON:
        meta = {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "managedFields")}
        return {**obj, "metadata": meta}

    return strip(new) == strip(old)

"""Installing the NumaFlow CustomResourceDefinitions (local mode does it at start)."""

from __future__ import annotations

import logging

from numaflux.api.crds import generate_crds
from numaflux.controller.kube import Kind, KubeClient, is_not_found
from numaflux.controller.logs import kv

CRD = Kind(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)
log = logging.getLogger(__name__)


async def ensure_crds(kube: KubeClient) -> None:
    """Create missing CRDs and update those whose spec differs from this version's."""
    for crd in generate_crds():
        name = crd["metadata"]["name"]
        try:
            existing = await kube.get(CRD, None, name)
        except Exception as err:
            if not is_not_found(err):
                raise
            await kube.create(CRD, crd)
            log.info(kv("created CRD", crd=name))
            continue
        if existing.get("spec") != crd["spec"]:
            existing["spec"] = crd["spec"]
            await kube.replace(CRD, existing)
            log.info(kv("updated CRD", crd=name))

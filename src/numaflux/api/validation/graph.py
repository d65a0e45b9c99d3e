"""Pipeline graph rules: edge endpoints, duplicates, vertex roles, connectivity, reduce after cycles."""

from __future__ import annotations

from numaflux.api.pipeline import Pipeline
from numaflux.api.validation._report import Report, quoted
from numaflux.api.validation.vertex import vertex_kinds
from numaflux.api.vertex import AbstractVertex


def _index_by_name(pl: Pipeline) -> dict[str, int]:
    """First index of each named vertex."""
    out: dict[str, int] = {}
    for i, v in enumerate(pl.vertices):
        if v.name and v.name not in out:
            out[v.name] = i
    return out


def _single_kind(v: AbstractVertex) -> bool:
    """Role rules only make sense for a vertex that is exactly one of source, sink, udf."""
    return len(vertex_kinds(v)) == 1


def check_edges(pl: Pipeline, out: Report) -> list[tuple[str, str]]:
    """Per-edge rules; returns the (from, to) pairs whose both ends exist, without duplicates."""
    index = _index_by_name(pl)
    seen: dict[tuple[str, str], int] = {}
    valid: list[tuple[str, str]] = []
    for j, e in enumerate(pl.edges):
        path = f"spec.edges[{j}]"
        shown = f'edge "{e.get_from()}" -> "{e.get_to()}"'
        ends_ok = True
        for field, name in (("from", e.from_), ("to", e.to)):
            if not name:
                out.add(f"{path}.{field}", f"{field} is required: an edge needs both from and to")
                ends_ok = False
            elif name not in index:
                out.add(f"{path}.{field}", f'{shown}: vertex "{name}" does not exist')
                ends_ok = False
        if e.conditions is not None:
            tags = e.conditions.tags
            if tags is None or not tags.values:
                out.add(
                    f"{path}.conditions.tags.values",
                    f"{shown}: conditional forwarding needs at least one tag value",
                )
        if not ends_ok:
            continue
        key = (e.get_from(), e.get_to())
        if key in seen:
            out.add(path, f"{shown} is defined more than once (first at spec.edges[{seen[key]}])")
            continue
        seen[key] = j
        valid.append(key)
        src, dst = pl.vertices[index[key[0]]], pl.vertices[index[key[1]]]
        if src.is_sink() and _single_kind(src):
            out.add(f"{path}.from", f'{shown}: sink vertex "{key[0]}" cannot have outgoing edges')
        if dst.is_source() and _single_kind(dst):
            out.add(f"{path}.to", f'{shown}: source vertex "{key[1]}" cannot have incoming edges')
    return valid


def check_vertex_roles(pl: Pipeline, out: Report) -> None:
    """Every vertex is in an edge; sources feed, sinks are fed, UDFs both."""
    if not pl.edges:
        return  # already reported once for the whole pipeline
    outgoing = {e.from_ for e in pl.edges if e.from_}
    incoming = {e.to for e in pl.edges if e.to}
    for i, v in enumerate(pl.vertices):
        if not v.name:
            continue
        path = f"spec.vertices[{i}]"
        if not _single_kind(v):
            continue
        has_out, has_in = v.name in outgoing, v.name in incoming
        if not has_out and not has_in:
            out.add(path, f'vertex "{v.name}" is not used in any edge')
        elif v.is_source() and not has_out:
            out.add(path, f'source vertex "{v.name}" needs at least one outgoing edge')
        elif v.is_sink() and not has_in:
            out.add(path, f'sink vertex "{v.name}" needs at least one incoming edge')
        elif v.is_udf() and not (has_in and has_out):
            missing = "incoming" if not has_in else "outgoing"
            out.add(path, f'UDF vertex "{v.name}" needs at least one {missing} edge')


def check_connected(pl: Pipeline, edges: list[tuple[str, str]], out: Report) -> None:
    """All vertices used in edges form one graph ("cannot be disjointed")."""
    used = [v.name for v in pl.vertices if v.name and any(v.name in e for e in edges)]
    if len(used) < 2:
        return
    neighbours: dict[str, set[str]] = {name: set() for name in used}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen = {used[0]}
    stack = [used[0]]
    while stack:
        for n in neighbours[stack.pop()]:
            if n not in seen:
                seen.add(n)
                stack.append(n)
    apart = [n for n in dict.fromkeys(used) if n not in seen]
    if apart:
        out.add("spec.edges", f'the pipeline is disjoint: {quoted(apart)} not connected to "{used[0]}"')


def _cycle_vertices(names: list[str], edges: list[tuple[str, str]]) -> set[str]:
    """Vertices on a cycle (self loops included), by Tarjan's strongly connected components."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: set[str] = set()
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in succ[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in succ[node]:
                result.update(component)

    for n in names:
        if n not in index:
            visit(n)
    return result


def check_reduce_after_cycle(pl: Pipeline, edges: list[tuple[str, str]], out: Report) -> None:
    """No reduce vertex on a cycle or downstream of one (a cycle always produces late data)."""
    index = _index_by_name(pl)
    names = list(index)
    cycles = _cycle_vertices(names, edges)
    if not cycles:
        return
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    blamed: dict[str, str] = {}
    for start in names:  # document order, so the reported cycle vertex is stable
        if start not in cycles:
            continue
        seen = {start}
        stack = [start]
        while stack:
            node = stack.pop()
            blamed.setdefault(node, start)
            for nxt in succ[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    for name, i in index.items():
        v = pl.vertices[i]
        if v.is_reduce_udf() and name in blamed:
            out.add(
                f"spec.vertices[{i}].udf.groupBy",
                f'reduce vertex "{name}" is at or downstream of a cycle at vertex "{blamed[name]}"',
            )

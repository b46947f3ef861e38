"""Pure algorithms on dependency graphs: topological order, cycles, longest chains.

A graph here is a mapping ``node -> prerequisites`` (the nodes that must come first).
Prerequisites that are not keys of the mapping are ignored, so a caller can pass a
sub-graph without pruning its edges first. Every result is deterministic: ties are broken
by name. :func:`topological_order` is the one order of mason (plan, scheduler, uninstall).
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence

from mason.errors import BadInput

Graph = Mapping[str, Sequence[str]]


class CycleError(BadInput):
    """The dependencies loop back on themselves; ``cycle`` is ``(a, b, c, a)``."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__(
            f"dependency cycle: {format_cycle(self.cycle)}",
            hint="remove one of these dependencies (or make it order-only after '|')",
        )


def format_cycle(cycle: Sequence[str]) -> str:
    """``a -> b -> c -> a``."""
    return " -> ".join(cycle)


def _edges(graph: Graph, node: str) -> list[str]:
    return sorted({p for p in graph[node] if p in graph})


def topological_order(graph: Graph, *, rank: Callable[[str], int] | None = None) -> list[str]:
    """Every node after all of its prerequisites; raise :class:`CycleError` on a loop.

    Of the nodes ready at the same time, the one of lowest ``rank`` comes first, then by
    name.
    """
    sorter = graphlib.TopologicalSorter({node: _edges(graph, node) for node in graph})
    try:
        sorter.prepare()
    except graphlib.CycleError:
        raise CycleError(find_cycles(graph)[0]) from None
    ready: list[tuple[int, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for node in sorter.get_ready():
            heapq.heappush(ready, (rank(node) if rank else 0, node))
        node = heapq.heappop(ready)[1]
        order.append(node)
        sorter.done(node)
    return order


def _strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (catalogs can hold long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(_edges(graph, root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(_edges(graph, child))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _cycle_in(graph: Graph, component: list[str]) -> tuple[str, ...]:
    """A shortest cycle through the component's first node (breadth-first search)."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in _edges(graph, node):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return (start, *reversed(path[:-1]), start)
                if nxt in members and nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle in strongly connected component {component}")


def find_cycles(graph: Graph) -> list[tuple[str, ...]]:
    """One cycle per strongly connected component (self-loops included), by name.

    Each cycle is written with its first node repeated at the end: ``(a, b, c, a)``;
    an edge ``x -> y`` means ``y`` is a prerequisite of ``x``.
    """
    cycles = []
    for component in _strongly_connected(graph):
        node = component[0]
        if len(component) > 1 or node in graph[node]:
            cycles.append(_cycle_in(graph, component))
    return sorted(cycles)


def longest_chain(graph: Graph) -> list[str]:
    """The longest path (in nodes) through the graph, prerequisites first."""
    best: dict[str, tuple[int, str | None]] = {}
    for node in topological_order(graph):
        pres = _edges(graph, node)
        top = max(pres, key=lambda p: (best[p][0], p), default=None)
        best[node] = (best[top][0] + 1 if top else 1, top)
    if not best:
        return []
    end: str | None = max(best, key=lambda n: (best[n][0], n))
    chain: list[str] = []
    while end is not None:
        chain.append(end)
        end = best[end][1]
    return chain[::-1]


def closure(graph: Graph, roots: Iterable[str]) -> set[str]:
    """The roots and everything they need, transitively."""
    seen: set[str] = set()
    todo = [r for r in roots if r in graph]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(p for p in graph[node] if p in graph and p not in seen)
    return seen

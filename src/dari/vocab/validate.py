"""Cross-row checks of the vocabulary files: 'Maps to' endpoints and domains, and an acyclic 'Is a' graph."""

from __future__ import annotations

from collections.abc import Iterator

from dari.errors import InputError
from dari.vocab.model import Concept

# A source concept may map into another domain only where OMOP routes such records (e.g. a lab that is
# recorded as an observation); everything else is a data error.
COMPATIBLE_DOMAINS = frozenset(
    {("Measurement", "Observation"), ("Condition", "Observation"), ("Observation", "Measurement")}
)


def check_mapping(src: Concept, dst: Concept, label: str, line: int) -> None:
    """A 'Maps to' row runs from a non-standard concept to a standard one of a compatible domain."""
    if src.standard_concept:
        raise InputError(
            "'Maps to' must start at a non-standard (source) concept",
            file=label,
            row=line,
            column="concept_id_1",
        )
    if not dst.is_standard:
        raise InputError("'Maps to' must end at a standard concept", file=label, row=line, column="concept_id_2")
    if src.domain_id != dst.domain_id and (src.domain_id, dst.domain_id) not in COMPATIBLE_DOMAINS:
        raise InputError(
            f"maps a {src.domain_id} concept to a {dst.domain_id} concept",
            file=label,
            row=line,
            column="concept_id_2",
        )


def check_acyclic(edges: dict[tuple[int, int], int], label: str) -> None:
    """No concept is its own 'Is a' ancestor (depth-first search; the line closing a cycle is named)."""
    # Depth-first search over 'Is a'; a back edge is a cycle, reported at the line that closes it.
    children: dict[int, list[int]] = {}
    for child, parent in edges:
        children.setdefault(child, []).append(parent)
    state: dict[int, int] = {}  # 1 = on the current path, 2 = finished
    for start in children:
        if state.get(start):
            continue
        stack: list[tuple[int, Iterator[int]]] = [(start, iter(children.get(start, ())))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise InputError(
                    f"'Is a' cycle through concepts {nxt} and {node}",
                    file=label,
                    row=edges[(node, nxt)],
                    column="concept_id_2",
                )
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(children.get(nxt, ()))))

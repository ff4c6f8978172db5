"""Declarative cohort definitions (a documented subset of OHDSI's cohort expression) and the site-side analyses
built on them: feasibility counts and Table 1, disclosure-controlled at the site and pooled at the hub.

See docs/cohort-definitions.md. Example definitions ship in `dari/cohort/examples/`.
"""

from __future__ import annotations

from dari.cohort.definition import CohortDefinition, CohortDefinitionError, load_definition, parse_definition
from dari.cohort.feasibility import FeasibilityResult, PooledFeasibility, feasibility, pool_feasibility
from dari.cohort.request import TableOneRequest, load_table_one_request, parse_table_one_request
from dari.cohort.resolve import UnknownConceptError
from dari.cohort.table_one import TableOne, table_one
from dari.cohort.table_one_pool import PooledTableOne, pool_table_one

__all__ = [
    "CohortDefinition",
    "CohortDefinitionError",
    "FeasibilityResult",
    "PooledFeasibility",
    "PooledTableOne",
    "TableOne",
    "TableOneRequest",
    "UnknownConceptError",
    "feasibility",
    "load_definition",
    "load_table_one_request",
    "parse_definition",
    "parse_table_one_request",
    "pool_feasibility",
    "pool_table_one",
    "table_one",
]

"""k-anonymity, l-diversity, t-closeness and ARX's re-identification risks, computed inside DuckDB.

Notation: the quasi-identifiers (QIs) partition the n records into equivalence classes E_1..E_c (records that
agree on every QI; NULL is a value). f_j = |E_j| is a class's size in the sample; F_j is the size of the
matching class in the population when one is given (else F_j = f_j: the sample is the population).

* k-anonymity (Sweeney 2002): k = min_j f_j.
* distinct l-diversity: l = min_j (#distinct sensitive values in E_j); entropy l-diversity
  (Machanavajjhala et al. 2007): l = exp(min_j H(E_j)), H(E) = −Σ_s p(E, s) ln p(E, s).
* t-closeness (Li et al. 2007): see ``tcloseness``.

Re-identification risk as ARX reports it (Prasser & Kohlmayer; ARX ``RiskModelSampleSummary``), after
El Emam & Dankar, "Protecting privacy using k-anonymity", JAMIA 15(5) 2008 and El Emam, "Guide to the
De-Identification of Personal Health Information" (2013). A record's individual risk is 1/f_j (prosecutor)
or 1/F_j (journalist); τ is the threshold.

* prosecutor: records at risk = Σ_{j: 1/f_j > τ} f_j / n; highest = 1/min f_j; average = c / n.
* journalist: records at risk = Σ_{j: 1/F_j > τ} f_j / n; highest = 1/min F_j;
  average = max(c / Σ_j F_j, Σ_j (f_j/F_j) / n). Without a population table F_j = f_j, so every journalist
  figure equals the prosecutor one (and the report says so: ``journalist_population = False``).
* marketer: Σ_j (f_j / F_j) / n, which is c / n when the sample is the population.

F_j is taken as max(F_j, f_j): the sample's own records are part of the population, so a population table
that undercounts a class (or lacks it) is never allowed to report a risk below the sample's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import duckdb
import numpy as np

from dari.errors import InputError
from dari.privacy.risk._source import Source, TableLike, check_quasi_identifiers, open_source, quote, require_columns
from dari.privacy.risk._source import temp_name as _temp
from dari.privacy.risk.models import RiskFigures, RiskReport, size_bins
from dari.privacy.risk.tcloseness import max_emd

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "DATE", "TIME")


def assess(
    table: TableLike,
    quasi_identifiers: Sequence[str],
    *,
    sensitive: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    population: TableLike | None = None,
    threshold: float = 0.2,
    t_distance: Literal["equal", "ordered"] | None = None,
) -> RiskReport:
    """Measure k, l, t and prosecutor/journalist/marketer risk of a table over its quasi-identifiers."""
    qis = check_quasi_identifiers(quasi_identifiers)
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"threshold must lie in (0, 1], got {threshold}")
    source = open_source(table, con)
    pop = None
    try:
        require_columns(source, [*qis, *([sensitive] if sensitive else [])])
        if population is not None:
            pop = open_source(population, source.con, what="population")
            require_columns(pop, qis, what="population")
        return assess_source(
            source, qis, sensitive=sensitive, population=pop, threshold=threshold, t_distance=t_distance
        )
    finally:
        source.close()
        if pop is not None:
            pop.close()


def assess_source(
    source: Source,
    qis: list[str],
    *,
    sensitive: str | None,
    population: Source | None,
    threshold: float,
    t_distance: Literal["equal", "ordered"] | None,
) -> RiskReport:
    """Measure an already-registered, validated source (see ``assess``)."""
    con, group = source.con, ", ".join(quote(q) for q in qis)
    classes, cells = _temp("classes"), _temp("cells")
    try:
        if sensitive is None:
            con.execute(
                f"CREATE TEMP TABLE {classes} AS SELECT {group}, count(*) AS __f FROM {source.ref} GROUP BY ALL"
            )
        else:
            # one pass over the rows: (class, sensitive value) cells; classes are re-aggregated from the cells
            con.execute(
                f"CREATE TEMP TABLE {cells} AS SELECT {group}, {quote(sensitive)} AS __s, count(*) AS __n "
                f"FROM {source.ref} GROUP BY ALL"
            )
            con.execute(
                f"CREATE TEMP TABLE {classes} AS SELECT {group}, sum(__n)::BIGINT AS __f, count(*) AS __d, "
                f"ln(sum(__n)) - sum(__n * ln(__n)) / sum(__n) AS __h FROM {cells} GROUP BY ALL"
            )
        histogram = dict(con.execute(f"SELECT __f, count(*) FROM {classes} GROUP BY ALL").fetchall())
        histogram = {int(s): int(c) for s, c in histogram.items()}
        l_distinct = l_entropy = t_value = None
        distance: Literal["equal", "ordered"] | None = None
        if sensitive is not None:
            row = con.execute(f"SELECT min(__d), min(__h) FROM {classes}").fetchall()[0]
            l_distinct, l_entropy = int(row[0]), float(np.exp(max(0.0, float(row[1]))))
            distance = t_distance or ("ordered" if source.types[sensitive].startswith(_NUMERIC) else "equal")
            t_value = _t_closeness(con, cells, group, distance)
        pairs = _population_pairs(con, classes, qis, population) if population is not None else None
    finally:
        con.execute(f"DROP TABLE IF EXISTS {classes}")
        con.execute(f"DROP TABLE IF EXISTS {cells}")
    prosecutor = risks_from_pairs({(s, s): c for s, c in histogram.items()}, threshold)
    journalist = prosecutor if pairs is None else risks_from_pairs(pairs, threshold)
    return RiskReport(
        records=sum(s * c for s, c in histogram.items()),
        classes=sum(histogram.values()),
        quasi_identifiers=qis,
        k=min(histogram),
        class_sizes=size_bins(histogram),
        sensitive=sensitive,
        l_distinct=l_distinct,
        l_entropy=l_entropy,
        t_closeness=t_value,
        t_distance=distance,
        threshold=threshold,
        prosecutor=prosecutor,
        journalist=journalist,
        journalist_population=pairs is not None,
        marketer=marketer_risk(pairs if pairs is not None else {(s, s): c for s, c in histogram.items()}),
    )


def risks_from_pairs(pairs: dict[tuple[int, int], int], threshold: float) -> RiskFigures:
    """ARX's figures from a histogram {(f_j, F_j): #classes}; prosecutor risk when every F_j = f_j."""
    n = sum(f * c for (f, _), c in pairs.items())
    classes = sum(pairs.values())
    at_risk = sum(f * c for (f, big), c in pairs.items() if 1.0 / big > threshold)
    population = sum(big * c for (_, big), c in pairs.items())
    average = max(classes / population, sum(f / big * c for (f, big), c in pairs.items()) / n)
    return RiskFigures(
        records_at_risk=at_risk / n, highest_risk=1.0 / min(big for _, big in pairs), average_risk=average
    )


def marketer_risk(pairs: dict[tuple[int, int], int]) -> float:
    """Marketer risk Σ_j (f_j / F_j) / n from a histogram {(f_j, F_j): #classes}."""
    n = sum(f * c for (f, _), c in pairs.items())
    return sum(f / big * c for (f, big), c in pairs.items()) / n


def _population_pairs(
    con: duckdb.DuckDBPyConnection, classes: str, qis: list[str], population: Source
) -> dict[tuple[int, int], int]:
    group = ", ".join(quote(q) for q in qis)
    # NULL is a QI value like any other, so classes match with IS NOT DISTINCT FROM
    on = " AND ".join(f"c.{quote(q)} IS NOT DISTINCT FROM p.{quote(q)}" for q in qis)
    rows = con.execute(
        f"SELECT c.__f, greatest(c.__f, coalesce(p.__F, 0)) AS big, count(*) FROM {classes} c "
        f"LEFT JOIN (SELECT {group}, count(*) AS __F FROM {population.ref} GROUP BY ALL) p ON {on} GROUP BY ALL"
    ).fetchall()
    return {(int(f), int(big)): int(c) for f, big, c in rows}


def _t_closeness(
    con: duckdb.DuckDBPyConnection, cells: str, group: str, distance: Literal["equal", "ordered"]
) -> float:
    # ranks, not values, leave DuckDB: the order of the sensitive values is all the EMD needs
    class_ids, value_ranks, counts = (
        con.execute(
            f"SELECT dense_rank() OVER (ORDER BY {group}) - 1, dense_rank() OVER (ORDER BY __s) - 1, __n FROM {cells}"
        )
        .fetchnumpy()
        .values()
    )
    return max_emd(
        np.asarray(class_ids, dtype=np.int64),
        np.asarray(value_ranks, dtype=np.int64),
        np.asarray(counts, dtype=np.int64),
        distance,
    )

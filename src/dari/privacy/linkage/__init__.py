"""Record linkage across sites through a combination agency (결합전문기관): keyed exact tokens and CLKs.

Each site turns identities into tokens under sub-keys of a linkage key; the agency joins two sites' token
files without either side seeing the other's identifiers. See docs/record-linkage.md.
"""

from __future__ import annotations

from dari.privacy.linkage.clk import ClkParams, dice, dice_matrix, encode_clks, qgrams
from dari.privacy.linkage.evaluate import LinkageBenchmark, Scores, evaluate, make_linkage_benchmark
from dari.privacy.linkage.exact import exact_tokens, link_exact, rrn_status_counts, rule_counts
from dari.privacy.linkage.match import count_comparisons, link_combined, link_fuzzy, linkage_tokens

__all__ = [
    "ClkParams",
    "LinkageBenchmark",
    "Scores",
    "count_comparisons",
    "dice",
    "dice_matrix",
    "encode_clks",
    "evaluate",
    "exact_tokens",
    "link_combined",
    "link_exact",
    "link_fuzzy",
    "linkage_tokens",
    "make_linkage_benchmark",
    "qgrams",
    "rrn_status_counts",
    "rule_counts",
]

"""The validation job's pooled AUROC from fine histograms summed by SecAgg+ (Flower's simulation engine).

One run: two synthetic sites of 1,500 patients with the minimum cell lowered; the secure AUROC is compared with
the AUROC of the pooled rows (scored again here, from the same CDMs) and with its own error bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flower_fixtures import MIN_CELL

from dari.disclosure import DisclosureRefusedError, DisclosureRules, require_sum_of_sites
from dari.federation.flower.grants import SyntheticOnlyGrantChecker
from dari.federation.flower.secure_histogram import auroc_from_fine_counts, fine_counts
from dari.federation.flower.simulation import run_validation
from dari.federation.flower.site_work import score_site
from dari.models import OnnxModel, load_spec
from dari.models.reference import reference_model_paths
from dari.validation import ValidationSpec, auroc


@pytest.mark.slow
def test_secagg_pooled_auroc_matches_the_pooled_rows_within_its_bound(flower_sites: list[Path]) -> None:
    # Prepare
    ref = reference_model_paths()
    checker = SyntheticOnlyGrantChecker({f"{s.name}-cdm": str(s) for s in flower_sites})
    # Execute
    run = run_validation(
        flower_sites,
        ref.model,
        ref.spec,
        grant_checker=checker,
        requester="r",
        threshold=0.2,
        rules=DisclosureRules(min_cell=MIN_CELL),
        secure_histogram=True,
    )
    # Assert: the secure sum covers both sites and lands on the pooled rows' AUROC, within its own bound
    assert run.secure_auroc is not None and run.pooled is not None
    secure = run.secure_auroc
    spec = load_spec(ref.spec)
    model = OnnxModel.load(ref.model, spec=spec)
    scored = [score_site(s, model, spec) for s in flower_sites]
    y = np.concatenate([c.y for c in scored])
    p = np.concatenate([c.p for c in scored])
    rows = auroc(y, p).estimate
    assert secure.sites == ("site-1", "site-2")
    assert (secure.positives, secure.negatives) == (int(y.sum()), int((~y).sum()))
    assert abs(secure.estimate - rows) <= secure.error_bound + 1e-12
    assert abs(secure.estimate - rows) < 1e-3 and secure.error_bound < 1e-3


def test_secagg_fine_counts_auroc_and_bound_against_sorting() -> None:
    # Prepare: scores with ties inside fine cells, the exact AUROC by scikit-learn's definition (via dari.auroc)
    rng = np.random.default_rng(3)
    y = rng.random(3000) < 0.2
    p = np.clip(rng.beta(2, 5, 3000) + 0.15 * y, 0, 1)
    spec = ValidationSpec(histogram_bins=200)
    counts = fine_counts(y, p, spec)
    cells = counts.size // 2
    # Execute
    estimate, bound = auroc_from_fine_counts(counts[:cells], counts[cells:])
    # Assert
    exact = auroc(y, p).estimate
    assert abs(estimate - exact) <= bound and bound < 2e-3
    assert counts[:cells].sum() == y.sum() and counts[cells:].sum() == (~y).sum()
    with pytest.raises(DisclosureRefusedError, match="at least 2"):
        require_sum_of_sites(1, "a secure sum")

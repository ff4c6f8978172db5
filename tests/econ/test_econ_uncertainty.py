"""Correlated PSA draws (multivariate normal, Cholesky), chunk invariance to the bit, and regression EVPPI."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from dari.econ import analyse, load_model, run_psa
from dari.econ.evppi import evppi
from dari.econ.loader import parse_model
from dari.econ.params import sample
from dari.errors import InputError

THR = Path(str(resources.files("dari.econ") / "examples" / "thr_briggs.toml"))
CKD = Path(str(resources.files("dari.econ") / "examples" / "ckd_ai_screening.toml"))


def test_correlated_draws_reproduce_the_covariance() -> None:
    spec = load_model(THR)
    group = spec.correlated["weibull"]
    v = sample(spec, 20_000, np.random.default_rng(5))
    draws = np.column_stack([v[k] for k in group.parameters])
    cov, got = np.array(group.covariance), np.cov(draws.T)
    assert np.diag(got) == pytest.approx(np.diag(cov), rel=0.05)
    sd, sd_got = np.sqrt(np.diag(cov)), np.sqrt(np.diag(got))
    assert got / np.outer(sd_got, sd_got) == pytest.approx(cov / np.outer(sd, sd), abs=0.03)  # correlations
    assert draws.mean(axis=0) == pytest.approx([float(spec.parameters[k].value) for k in group.parameters], abs=0.01)


@pytest.mark.parametrize("model", [THR, CKD])
def test_psa_bit_identical_for_any_chunk_size(model: Path) -> None:
    spec = load_model(model)
    whole = run_psa(spec, 60, seed=11, chunk=60)
    for chunk in (1, 7, 32):
        part = run_psa(spec, 60, seed=11, chunk=chunk)
        assert np.array_equal(whole.costs, part.costs) and np.array_equal(whole.qalys, part.qalys)


def test_correlated_group_checks_name_the_field() -> None:
    raw = tomllib.loads(THR.read_text(encoding="utf-8"))
    bad = copy.deepcopy(raw)
    bad["correlated"]["weibull"]["covariance"][0][0] = -1.0
    with pytest.raises(InputError, match="not positive definite") as info:
        parse_model(bad, str(THR))
    assert info.value.column == "correlated.weibull.covariance"
    bad = copy.deepcopy(raw)
    bad["parameters"]["cons"]["distribution"] = {"type": "normal", "mean": -5.49, "sd": 0.2}
    with pytest.raises(InputError, match="drawn jointly"):
        parse_model(bad, str(THR))


def test_evppi_matches_the_analytic_value() -> None:
    # INB = 1000(φ1 − ½) + 1000(φ2 − ½), φ ~ U(0, 1): EVPPI(φ1) = 1000·E[max(0, φ1 − ½)] = 125; φ3 carries none
    rng = np.random.default_rng(2)
    phi = rng.random((4000, 3))
    inb = 1000 * (phi[:, 0] - 0.5) + 1000 * (phi[:, 1] - 0.5)
    nmb = np.stack([np.zeros(4000), inb])
    assert evppi(nmb, phi[:, 0]) == pytest.approx(125, rel=0.08)
    assert evppi(nmb, phi[:, 2]) < 5
    evpi = float(nmb.max(axis=0).mean() - nmb.mean(axis=1).max())
    assert evppi(nmb, phi[:, :2]) == pytest.approx(evpi, rel=0.02)
    assert evppi(nmb[:1], phi[:, 0]) == 0.0


def test_analysis_reports_evppi_groups_below_evpi() -> None:
    a = analyse(load_model(THR), psa_iterations=600, seed=3, wtp=2200)
    d = a.to_dict()["psa"]
    assert set(d["evppi_at_wtp"]) == {"revision", "utilities", "operative"}
    assert all(0 <= v <= d["evpi_at_wtp"] + 1e-9 for v in d["evppi_at_wtp"].values())
    assert d["evppi_at_wtp"]["revision"] > 0

"""The steward's sign-off document: verdict per target, the warning when a target is missed, the k plan filled in
from `enforce_k`, a signature block; HTML styled with the font embedded, PDF pages A4 and inside the page."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dari.privacy.ingest import PseudonymisationRecord, write_signoff
from dari.privacy.risk import assess, date_to_year, enforce_k, postcode_prefix, suppress_only
from dari.privacy.signoff import verdicts

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))  # the page checks of the report tests
from report_pages import check_pages, need_poppler


def _record(k_target: int, coarse: bool) -> PseudonymisationRecord:
    """A record over 600 synthetic people: raw QIs (k = 1), then treated ones (coarse: decade + sex only)."""
    rng = np.random.default_rng(3)
    n = 600
    year = rng.integers(1930, 2005, n)
    sex = rng.choice(["F", "M"], n)
    post = np.char.zfill(rng.integers(1000, 63000, n).astype(str), 5)
    raw = pa.table({"birth": year.astype(str), "sex": sex, "postcode": post})
    before = assess(raw, ["birth", "sex", "postcode"])
    treated = pa.table({"birth": (year // 10 * 10).astype(str), "sex": sex}) if coarse else raw
    after = assess(treated, list(treated.column_names))
    review = None
    if after.k < k_target:
        hier = {"birth": date_to_year(), "sex": suppress_only(), "postcode": postcode_prefix()}
        review = enforce_k(raw, hier, k_target, 0.05).review
    return PseudonymisationRecord(
        site_id="site-9",
        created_at="2026-12-07T09:00:00+00:00",
        policy="dari default policy",
        key_fingerprint="0123456789abcdef",
        treatments={"name": "remove", "birth_date": "generalise:year", "postcode": "generalise:prefix3"},
        max_shift_days=30,
        risk_before=before.model_dump(),
        risk_after=after.model_dump(),
        k_target=k_target,
        k_review=review.model_dump() if review else {},
    )


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[PseudonymisationRecord, Path]:
    """A record whose treated data miss k = 5 and the 20 % threshold, written as HTML and PDF."""
    record = _record(5, coarse=False)
    folder = tmp_path_factory.mktemp("signoff")
    write_signoff(record, folder)
    return record, folder


def test_signoff_verdicts_fail_each_missed_target(failing: tuple[PseudonymisationRecord, Path]) -> None:
    record, _ = failing
    vs = {v.target.split(" / ")[1]: v for v in verdicts(record)}
    assert vs["k-anonymity"].achieved == f"k = {record.risk_after['k']}" and not vs["k-anonymity"].passed
    assert not vs["Average risk (prosecutor)"].passed and vs["Average risk (prosecutor)"].required == "≤ 20.00%"
    assert not vs["Highest risk (prosecutor)"].passed
    # treated to decade and sex only, 600 people reach k = 5 and every verdict passes
    assert all(v.passed for v in verdicts(_record(5, coarse=True)))


def test_signoff_html_warns_and_fills_the_k_plan(failing: tuple[PseudonymisationRecord, Path]) -> None:
    record, folder = failing
    html = (folder / "pseudonymisation.html").read_text("utf-8")
    # Assert: a loud warning, the verdict table, the plan's levels and loss, the signature block, the font
    assert re.search(r'<div class="alert" role="alert">경고: .*WARNING: the treated data miss 3 target', html)
    assert html.count("미달 / FAIL") == 3
    plan = html[html.index('<section id="plan">') : html.index('<section id="signature">')]
    for q in record.k_review["quasi_identifiers"]:
        assert f"<td>{q['column']}</td>" in plan and f"{q['level']} / {q['max_level']}" in plan
    assert f"{record.k_review['suppressed']:,} / 600" in plan and "Precision loss" in plan
    assert f"<td>{record.k_review['after']['k']}</td>" in plan and record.k_review["after"]["k"] >= 5
    sign = html[html.index('<section id="signature">') :]
    for field in ("Name", "Role", "Date", "Decision", "Signature"):
        assert f"/ {field}</td>" in sign
    assert "@font-face{font-family:DariHangul" in html and "<style>" in html


@pytest.mark.slow
def test_signoff_pdf_pages_fit(failing: tuple[PseudonymisationRecord, Path], tmp_path: Path) -> None:
    need_poppler()
    ws = check_pages(failing[1] / "pseudonymisation.pdf", tmp_path)
    text = " ".join(w.text for w in ws)
    assert "WARNING:" in text and "FAIL" in text and "Signature" in text and "가명처리" in text

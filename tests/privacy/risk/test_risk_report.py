"""Risk and review reports: JSON round trip, bilingual HTML, counts only, small classes pooled as <10."""

from __future__ import annotations

import json

import pyarrow as pa

from dari.privacy.risk import RiskReport, age_bands, assess, enforce_k, postcode_prefix, suppress_only

# classes of 1, 2, 3 and 12 records; diagnosis and name are never to appear in a report
TABLE = pa.table(
    {
        "age": [20] + [30] * 2 + [40] * 3 + [50] * 12,
        "postcode": ["06236"] * 18,
        "sex": ["F"] * 18,
        "name": [f"홍길동{i}" for i in range(18)],
        "dx": ["SECRET-DX"] + ["J45"] * 17,
    }
)


def test_report_class_sizes_below_ten_pooled() -> None:
    # Execute
    report = assess(TABLE, ["age"])
    # Assert
    bins = {b.size: (b.classes, b.records) for b in report.class_sizes}
    assert bins == {"<10": (3, 6), "10-19": (1, 12)}


def test_report_to_json_round_trips() -> None:
    # Prepare
    report = assess(TABLE, ["age"], sensitive="dx")
    # Execute
    text = report.to_json()
    # Assert
    assert json.loads(text)["k"] == 1
    assert RiskReport.model_validate_json(text) == report


def test_report_html_languages() -> None:
    # Prepare
    report = assess(TABLE, ["age"], sensitive="dx")
    # Execute
    both, ko, en = report.to_html(), report.to_html("ko"), report.to_html("en")
    # Assert
    assert "검사자 모델" in both and "Prosecutor" in both
    assert "검사자 모델" in ko and "Prosecutor" not in ko
    assert "Prosecutor" in en and "검사자 모델" not in en
    assert "journalist risk equals prosecutor risk" in en


def test_review_html_lists_levels_policy_and_no_row_values() -> None:
    # Prepare
    hierarchies = {"age": age_bands((5, 10)), "postcode": postcode_prefix(), "sex": suppress_only()}
    result = enforce_k(TABLE, hierarchies, k=5, max_suppression=0.0, sensitive="dx")
    # Execute
    html = result.review.to_html()
    data = json.loads(result.review.to_json())
    # Assert
    assert [q["column"] for q in data["quasi_identifiers"]] == ["age", "postcode", "sex"]
    assert data["policy"] == {"k": 5, "max_suppression": 0.0, "threshold": 0.2, "metric": "precision"}
    assert data["after"]["k"] >= 5
    assert "가명처리 적정성 검토" in html and "Pseudonymisation appropriateness review" in html
    for secret in ("SECRET-DX", "홍길동", "06236", "J45"):
        assert secret not in html
        assert secret not in result.review.to_json()

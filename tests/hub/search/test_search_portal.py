"""The portal's discovery pages on a real hub store (SQLite): the query set's datasets published with their
protected characterisations, searched, opened by concept, compared; matches said in words, one hospital name."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dari.hub.catalog import publish_dataset
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.seed import seed_consortium

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from portal_helpers import PASSWORD, login, make_app
from test_search_discovery import _benchmark


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A researcher's portal client on a hub holding the query set's nine datasets over the three demo sites."""
    import json

    bench = _benchmark()
    url = str(tmp_path_factory.mktemp("discovery") / "hub.db")
    engine = make_engine(url)
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        users = seed_consortium(session, PASSWORD)
        entries = json.loads(Path(bench.QUERY_FILE).read_text(encoding="utf-8"))["datasets"]
        for i, entry in enumerate(entries):
            record, characterisation = bench.discovery_record(entry)
            publish_dataset(session, users["admin"], f"site-{i % 3 + 1}", record, characterisation, 91.5)
    web, _ = login(make_app(url), "researcher")
    yield web
    engine.dispose()


def _hits(html: str) -> list[str]:
    return re.findall(r'<li class="hit hit-\w+" data-id="([^"]+)"', html)


def test_portal_discovery_pages(client: TestClient) -> None:
    # A place name finds both Gwangju hospitals, one only through its region; the match is said in words.
    page = client.get("/catalog", params={"q": "광주", "kind": "dataset"})
    assert page.status_code == 200
    assert {"dataset:bitgoeul-cdm", "dataset:cnuh-cdm"} <= set(_hits(page.text)[:2])
    assert "일치: 기관·지역" in page.text
    for label in ("lexical", "semantic", "both"):
        assert not re.search(rf"\b{label}\b", page.text), label
    # 'CKD' finds the datasets whose characterisation holds CKD stages, in English too.
    page = client.get("/catalog", params={"q": "CKD", "kind": "dataset", "lang": "en"})
    assert set(_hits(page.text)[:2]) == {"dataset:hanbit-cdm", "dataset:bada-cdm"}
    assert "concepts held" in page.text
    # Without a kind, datasets come first in their own group, concepts after them.
    page = client.get("/catalog", params={"q": "kidney"})
    groups = re.findall(r'<ol class="hits" data-group="(\w+)">', page.text)
    assert groups == ["datasets", "concepts"]
    assert set(_hits(page.text)[:2]) == {"dataset:hanbit-cdm", "dataset:bada-cdm"}
    # A concept hit links to its page and names the datasets holding it with their protected counts.
    page = client.get("/catalog", params={"q": "당뇨", "kind": "concept"})
    assert _hits(page.text)[0] == "concept:2000100005"
    assert 'href="/concepts/2000100005"' in page.text
    # each count is the held concept's own, named when it is a concept below the hit's
    assert "세브란스병원</a> (대상자 수: 1형 당뇨병 140, 2형 당뇨병 2480)" in page.text
    concept = client.get("/concepts/2000100005")
    assert concept.status_code == 200
    rows = re.findall(r'<tr class="holding-row" data-id="([^"]+)">(.*?)</tr>', concept.text, re.S)
    assert {r[0] for r in rows} == {"hanbit-cdm", "bada-cdm", "severance-dm"}
    assert any("2형 당뇨병" in cells and "1630" in cells for _, cells in rows)
    assert client.get("/concepts/123").status_code == 404
    # One hospital name: the list, the dataset page and the comparison show the same one.
    listing = client.get("/catalog")
    row = re.search(r'data-id="cnuh-cdm">.*?<td class="hospital">([^<]+)</td>', listing.text, re.S)
    assert row and row[1] == "전남대학교병원"
    dataset = client.get("/datasets/cnuh-cdm")
    assert '<td class="hospital">전남대학교병원</td>' in dataset.text
    assert '<a href="/concepts/2000100010">고혈압성 질환</a>' in dataset.text  # Korean name from the vocabulary
    compare = client.get("/compare", params={"ids": ["cnuh-cdm", "bitgoeul-cdm", "snuh-breast"]})
    assert compare.status_code == 200
    assert re.findall(r'<td class="hospital">([^<]+)</td>', compare.text) == [
        "전남대학교병원",
        "광주빛고을병원",
        "서울대학교병원",
    ]
    assert re.findall(r'<td class="persons">([^<]+)</td>', compare.text) == ["3340", "1875", "1520"]
    assert 'id="age-sex"' in compare.text
    one = client.get("/compare", params={"ids": ["cnuh-cdm"]})
    assert one.status_code == 400 and "2개에서 4개까지" in one.text

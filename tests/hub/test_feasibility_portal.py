"""The cohort builder without JavaScript (plain form posts): add concepts, errors naming the field, save and reopen,
owner-only cohorts, ATLAS export and import back, a definition the form cannot hold kept whole as JSON."""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

from portal_helpers import login, make_app
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.cohort import CohortDefinition, load_definition
from dari.hub.db.models import AuditEntry

CKD = Path(str(resources.files("dari.cohort") / "examples" / "ckd_g3.json"))
FORM = {
    "name": "당뇨 코호트",
    "source": "form",
    "index_domain": "condition_occurrence",
    "index_codes": "SNOMED 44054006 +",
    "index_occurrence": "first",
    "age_min": "18",
    "sex": ["F"],
    "prior_days": "365",
    "rule0_name": "no type 1 diabetes",
    "rule0_domain": "condition_occurrence",
    "rule0_codes": "SNOMED 46635009 +\n-SNOMED 1234 # an excluded code",
    "rule0_start": "",
    "rule0_end": "0",
    "rule0_occurrence": "exactly",
    "rule0_count": "0",
}


def _textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, name
    return html.unescape(found[1])


def test_feasibility_portal_builder_works_without_javascript(hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare
    app = make_app(hub_url)
    client, csrf = login(app, "researcher")
    form = {**FORM, "csrf_token": csrf}
    # Execute / Assert: a concept picked from search results lands in its slot with descendants
    added = client.post("/cohorts/builder", data={**form, "action": "add:rule1_codes:RxNorm 6809|메트포르민"})
    assert added.status_code == 200 and _textarea(added.text, "rule1_codes") == "RxNorm 6809 +  # 메트포르민"
    assert _textarea(added.text, "index_codes") == "SNOMED 44054006 +"  # the rest of the input is kept
    # A malformed concept line is refused by field and line, the input shown again
    bad = client.post("/cohorts/builder", data={**form, "rule0_codes": "SNOMED", "action": "save"})
    assert "rule0_codes, line 1" in bad.text and _textarea(bad.text, "rule0_codes") == "SNOMED"
    # Counting needs the site connector: this hub has none, and says so
    run = client.post("/cohorts/builder", data={**form, "action": "run"})
    assert run.status_code == 200 and "site_folders" in run.text
    # Export: dari JSON is the same definition the form describes; ATLAS JSON is Circe's shape
    exported = client.post("/cohorts/builder", data={**form, "action": "json"})
    definition = CohortDefinition.model_validate(exported.json())
    assert definition.index.sex == ["F"] and definition.inclusion_rules[0].occurrence.type == "exactly"
    assert [i.exclude for i in definition.concept_sets[1].items] == [False, True]
    atlas = client.post("/cohorts/builder", data={**form, "action": "atlas"})
    assert "attachment" in atlas.headers["content-disposition"] and "PrimaryCriteria" in atlas.json()
    # Import the ATLAS JSON back: the form is filled with the same concept lines
    back = client.post("/cohorts/import", data={"csrf_token": csrf, "cohort_text": atlas.text})
    assert _textarea(back.text, "rule0_codes") == "SNOMED 46635009 +\n-SNOMED 1234"
    # Save, reopen; another applicant cannot see it
    saved = client.post("/cohorts/builder", data={**form, "action": "save"})
    assert saved.status_code == 303
    reopened = client.get(saved.headers["location"])
    assert 'value="당뇨 코호트"' in reopened.text and "당뇨 코호트" in client.get("/cohorts").text
    other, _ = login(app, "vendor")
    assert other.get(saved.headers["location"]).status_code == 404
    assert "당뇨 코호트" not in other.get("/cohorts").text
    with hub() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "cohort.save")).scalars().first()


def test_feasibility_portal_keeps_a_definition_the_form_cannot_hold_as_json(
    hub_url: str, hub: sessionmaker[Session]
) -> None:
    # Prepare: CKD G3 has measurement values and a description, which the form does not edit
    app = make_app(hub_url)
    client, csrf = login(app, "researcher")
    # Execute
    page = client.post("/cohorts/import", data={"csrf_token": csrf, "cohort_text": CKD.read_text(encoding="utf-8")})
    # Assert: shown whole as JSON, and saved unchanged (same digest)
    text = _textarea(page.text, "definition_json")
    assert 'name="source" value="json"' in page.text
    saved = client.post(
        "/cohorts/builder",
        data={"csrf_token": csrf, "source": "json", "definition_json": text, "action": "json"},
    )
    assert CohortDefinition.model_validate(saved.json()).digest() == load_definition(CKD).digest()
    circe_bad = json.dumps({"PrimaryCriteria": 1})
    broken = client.post("/cohorts/import", data={"csrf_token": csrf, "cohort_text": circe_bad})
    assert 'class="error"' in broken.text

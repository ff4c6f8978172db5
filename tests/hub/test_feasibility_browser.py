"""One browser journey (headless Chromium, Playwright): build a cohort from Korean concept searches, count it at
every site (attrition, refusal without a grant, forecast), export ATLAS JSON, carry it to "Apply", save it."""

from __future__ import annotations

import json
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from feasibility_helpers import PASSWORD, build_hub, build_sites
from portal_helpers import CHROMIUM, FLAGS, make_app
from portal_helpers import free_port as _free_port

from dari.hub.web.search_service import concept_index


@pytest.fixture(scope="module")
def feasibility_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The hub with its site connector on two synthetic sites, served by uvicorn on a loopback port."""
    if not Path(CHROMIUM).exists():
        reason = "!!! Chromium NOT INSTALLED (apt-get install chromium); the browser tests DID NOT RUN !!!"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("feas-portal")
    sites = build_sites(root)
    build_hub(root / "hub.db")
    concept_index()  # built once per process (Kiwi, the sentence encoder): not what the browser waits for
    app = make_app(str(root / "hub.db"), secure_cookies=False, site_folders={k: str(v) for k, v in sites.items()})
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.slow
def test_feasibility_browser_build_count_forecast_export_apply(feasibility_portal: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    portal = feasibility_portal
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(f"{portal}/login")
            page.fill("#username", "researcher")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.click("#nav-cohorts")
            expect(page.locator("h1")).to_have_text("코호트 빌더")
            page.fill("#cohort-name", "제2형 당뇨병 메트포르민")
            # Index event: search in Korean, pick type 2 diabetes (with descendants) into the index concept set
            page.fill("#concept-q", "제2형 당뇨")
            page.click("#concept-search")
            hit = page.locator("li.concept-hit", has_text="SNOMED 44054006").first
            expect(hit).to_contain_text("2형 당뇨병")
            hit.locator("button.add-index_codes").click()
            index_line = "SNOMED 44054006 +  # 2형 당뇨병 (Type 2 diabetes mellitus)"
            expect(page.locator("#index_codes")).to_have_value(index_line)
            # Inclusion rule 0: metformin (found by its Korean name) from index to 90 days after
            page.fill("#concept-q", "메트포르민")
            page.click("#concept-search")
            page.locator("li.concept-hit", has_text="RxNorm 6809").locator("button.add-rule0_codes").click()
            expect(page.locator("#rule0_codes")).to_contain_text("RxNorm 6809 +")
            page.fill("#rule0_name", "메트포르민 0-90일")
            page.select_option("#rule0_domain", "drug_exposure")
            page.fill("#rule0_start", "0")
            page.fill("#rule0_end", "90")
            page.fill("#horizon_months", "60")
            # Count at every site: site-1 (granted) answers with attrition, site-2 refuses for want of a grant
            page.click("#run-feasibility")
            table = page.locator("#attrition")
            expect(table).to_be_visible(timeout=60_000)  # the sites answer in seconds; a loaded CI host is slower
            first = table.locator("tr[data-step='0'] td[data-site='site-1']")
            expect(first).to_have_text(re.compile(r"^[1-9][0-9]*[05]$"))  # released: rounded to 5, at least 10
            expect(table.locator("tr[data-step='0'] td").nth(1)).to_have_text(first.inner_text())  # pooled = site-1
            expect(table.locator("tr[data-step='1']")).to_contain_text("메트포르민 0-90일")
            expect(table.locator("tr.step")).to_have_count(4)  # persons at index, the index event, the rule, cohort
            expect(page.locator("p.site-refused[data-site='site-2']")).to_contain_text("no grant")
            forecast = page.locator("#forecast tr.forecast[data-site='site-1']")
            expect(forecast.locator("td.interval")).to_contain_text("90%")
            expect(forecast.locator("td.expected")).to_have_text(re.compile(r"^(<10|[1-9][0-9]*[05])$"))
            expect(forecast.locator("td.lookback")).to_contain_text("개월")  # blank lookback: the whole history
            expect(page.locator("#forecast tr.forecast[data-site='site-2']")).to_contain_text("거부됨")
            # "Apply with this cohort" carries the dari cohort JSON and the concept sets as variables
            cohort = json.loads(page.locator("input[name=cohort_json]").input_value())
            assert cohort["name"] == "제2형 당뇨병 메트포르민"
            assert cohort["inclusion_rules"][0]["window"] == {"start_days": 0, "end_days": 90}
            variables = json.loads(page.locator("input[name=variables]").input_value())
            assert {"table": "drug_exposure", "concept_set": "rule1", "label": "메트포르민 0-90일"} in variables
            # Export ATLAS JSON: Circe's shape, descendants kept
            with page.expect_download() as info:
                page.click("#export-atlas")
            assert info.value.suggested_filename == "제2형-당뇨병-메트포르민.atlas.json"
            atlas = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
            items = atlas["ConceptSets"][0]["expression"]["items"]
            assert items[0]["concept"]["CONCEPT_CODE"] == "44054006" and items[0]["includeDescendants"] is True
            assert atlas["InclusionRules"][0]["name"] == "메트포르민 0-90일"
            # Save; the saved cohort reopens with its concept lines
            page.click("#save-cohort")
            expect(page.locator("#rule0_codes")).to_contain_text("RxNorm 6809 +")
            page.click("#saved-cohorts")
            expect(page.locator("tr.saved-cohort")).to_contain_text("제2형 당뇨병 메트포르민")
        finally:
            browser.close()

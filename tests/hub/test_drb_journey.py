"""One journey in headless Chromium (Playwright): the researcher searches '당뇨' and applies with a cohort and
structured variables; two DRBs review (one with conditions) through the confirmation step; site-3 revokes its part
of the grant; every page shows the status that follows (조건부 승인, 일부 철회), the dates as entered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from portal_helpers import CHROMIUM, FLAGS, PASSWORD, serve_portal
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.governance.grants import check_grant

CKD = (Path(str(resources.files("dari.cohort") / "examples")) / "ckd_g3.json").read_text(encoding="utf-8")
TITLE = "당뇨병 환자의 신기능 저하 예측 모델 검증"


@pytest.fixture
def portal(hub_url: str, hub: sessionmaker[Session]) -> Iterator[str]:
    """The hub served by uvicorn on a loopback port (plain HTTP on loopback, so cookies without Secure)."""
    yield from serve_portal(hub_url)


@pytest.mark.slow
def test_browser_drb_journey(portal: str, hub: sessionmaker[Session], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    irb = tmp_path / "IRB 승인서.pdf"
    irb.write_bytes(b"%PDF-1.4\n% IRB-2026-0101 approval\n%%EOF\n")
    end = dt.date.today() + dt.timedelta(days=100)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()

            def login(name: str) -> None:
                page.goto(f"{portal}/login")
                page.fill("#username", name)
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                expect(page.locator("#logout")).to_be_visible()

            def logout() -> None:
                page.click("#logout")
                expect(page.locator("#login-submit")).to_be_visible()

            # The researcher searches in Korean and finds the dataset described as diabetes mellitus.
            login("researcher")
            page.fill("#q", "당뇨")
            page.click("#search-submit")
            hit = page.locator("li.hit-dataset").first
            expect(hit).to_contain_text("Diabetes")
            expect(hit.locator("mark").first).to_be_visible()
            expect(page.locator(".match-why").first).to_contain_text("일치:")  # where it matched, in words
            # From the catalog list, two datasets side by side (one hospital name in the list and the comparison).
            page.goto(f"{portal}/catalog")
            page.check("tr[data-id=site-1-cdm] input[name=ids]")
            page.check("tr[data-id=site-2-cdm] input[name=ids]")
            page.click("#compare-submit")
            expect(page.locator("#comparison td.hospital")).to_have_text(["다리대학교병원", "한강의료원"])
            # Apply: the cohort is loaded first (no JS: the form posts to /apply and comes back filled)
            page.goto(f"{portal}/applications/new?dataset=site-1-cdm")
            page.fill("#title", TITLE)
            page.fill("#applicant_affiliation", "서울대학교병원 신장내과")
            page.fill("#cohort_json", CKD)
            page.click("#cohort-load")
            expect(page.locator("#cohort-summary")).to_contain_text("18세 이상")
            expect(page.locator("#title")).to_have_value(TITLE)  # what was entered survives the round trip
            page.fill("#purpose", "Multicenter validation of a CKD progression model in patients with diabetes.")
            page.fill("#irb_number", "IRB-2026-0101")
            page.set_input_files("#irb_document", str(irb))
            page.check("input[name=dataset_ids][value=site-3-cdm]")
            page.check("input[name=variables][value='measurement:egfr']")
            page.check("input[name=variables][value=person]")
            page.check("input[name=analysis_types][value=model_validation]")
            page.fill("#period_end", end.isoformat())
            page.check("#dua")
            page.click("#application-submit")
            expect(page.locator("#application-status")).to_have_text("심의 중")
            expect(page.locator("#period")).to_contain_text(end.isoformat())  # not one day later
            application_url = page.url
            logout()
            # Two DRBs review: the whole application is there, no vote is preset, each vote is confirmed.
            for reviewer, site, conditions in (("drb1", "site-1", "집계 결과만 반출"), ("drb3", "site-3", "")):
                login(reviewer)
                page.click("#nav-review")
                page.click(f"text={TITLE}")
                expect(page.locator("#applicant")).to_contain_text("김연구")
                expect(page.locator("#affiliation")).to_have_text("서울대학교병원 신장내과")
                expect(page.locator("#variables")).to_contain_text("eGFR (CKD-EPI 2021)")
                expect(page.locator("#cohort-summary")).to_contain_text("포함 기준 2: no dialysis before index")
                expect(page.locator("a.document")).to_have_text("IRB 승인서.pdf")
                expect(page.locator("input[name=decision]:checked")).to_have_count(0)
                page.click("#review-submit")  # nothing chosen: the browser refuses to send the form
                expect(page).to_have_url(application_url)
                expect(page.locator("#review-form")).to_be_visible()
                decision = "approve_with_conditions" if conditions else "approve"
                page.check(f"input[name=decision][value={decision}]")
                page.fill("#comment", conditions)
                page.click("#review-submit")
                expect(page.locator("#confirm-summary")).to_contain_text("조건부 승인" if conditions else "승인")
                page.click("#confirm-submit")
                expect(page.locator(f"[data-site={site}]")).to_have_text("승인")
                if reviewer == "drb3":
                    expect(page.locator("#application-status")).to_have_text("조건부 승인")
                    expect(page.locator(".conditions")).to_contain_text("site-1: 집계 결과만 반출")
                    # site-3's DRB revokes its own part, with a reason, after confirming what it removes
                    page.click("#nav-grants")
                    row = page.locator("tr.grant").first
                    expect(row.locator(".holder")).to_contain_text("김연구 (researcher)")
                    expect(row).to_contain_text("모델 검증")
                    expect(row).to_contain_text(end.isoformat())
                    page.locator(".revoke-form input[name=reason]").first.fill("IRB 승인 범위 위반")
                    page.locator(".revoke-form button").first.click()
                    expect(page.locator("[data-key=revoked_sites_now]")).to_have_text("site-3")
                    expect(page.locator("[data-key=remaining_sites]")).to_have_text("site-1")
                    page.click("#confirm-submit")
                    expect(row.locator("[data-grant-site=site-3]")).to_contain_text("철회됨")
                    expect(row.locator("[data-grant-site=site-1]")).to_contain_text("유효")
                    expect(row.locator(".grant-status")).to_have_text("일부 철회")
                    expect(page.locator(".revoke-form")).to_have_count(0)  # nothing of site-3's is left to revoke
                logout()
            # The researcher sees 일부 철회 everywhere, and in English after the switch.
            login("researcher")
            page.goto(application_url)
            expect(page.locator("#application-status")).to_have_text("일부 철회")
            expect(page.locator("[data-site=site-3]")).to_have_text("철회됨")
            expect(page.locator("#revocations")).to_contain_text("IRB 승인 범위 위반")
            page.click("#nav-my")
            expect(page.locator("#my-applications tr[data-application]").first).to_contain_text("일부 철회")
            page.click("#lang-switch")
            expect(page.locator("tr.grant .grant-status").first).to_have_text("Partly revoked")
        finally:
            browser.close()
    with hub() as s:
        assert not check_grant(s, "researcher", "site-3-cdm", "model_validation", record=False).allowed
        assert check_grant(s, "researcher", "site-1-cdm", "model_validation", record=False).allowed

"""In headless Chromium (Playwright): the approver approves a report, the vendor sees it and a drift alert, the
clinician reads the deployed model's card and sends feedback; a notification shows and an e-mail reaches the sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hub_monitoring_helpers import SCORE_ALERT_KO, publication
from portal_helpers import CHROMIUM, FLAGS, PASSWORD, make_app, require_chromium, served
from roles_helpers import SmtpSink, reference_card, smtp_sink
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.governance.deployment import register_model, submit_report
from dari.hub.governance.users import get_user
from dari.hub.monitoring import ingest_publication
from dari.hub.notifications import set_address

VENDOR_MAIL = "vendor@dari.example"


@pytest.fixture
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only: the browser adds nothing on PostgreSQL that test_roles_services.py does not check there, and
    the suite's time budget is tight."""
    return str(tmp_path_factory.mktemp("hub") / "hub.db")


@pytest.fixture
def roles_portal(hub_url: str, hub: sessionmaker[Session]) -> Iterator[tuple[str, str, str, SmtpSink]]:
    """The reference model registered by the vendor with a report over site-1 and site-2, the hub mailing to a
    real SMTP sink, served by uvicorn on loopback."""
    require_chromium()
    sha, card = reference_card()
    with hub() as s, s.begin():
        register_model(s, get_user(s, "vendor"), sha, card)
        results = {"sites_covered": ["site-1", "site-2"], "pooled": {"n": 900, "events": 120, "auroc": 0.8}}
        report = submit_report(s, get_user(s, "vendor"), sha, results).id
        set_address(s, get_user(s, "vendor"), VENDOR_MAIL)
    with smtp_sink() as sink, served(make_app(hub_url, secure_cookies=False, smtp=sink.settings)) as url:
        yield url, sha, report, sink


@pytest.mark.slow
def test_browser_roles_journey(roles_portal: tuple[str, str, str, SmtpSink], hub: sessionmaker[Session]) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    base, sha, report, sink = roles_portal
    _, card = reference_card()

    def log_in(page: Page, username: str) -> None:
        page.goto(f"{base}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            # The approver: queue → report → confirm → approve.
            approver = browser.new_context().new_page()
            log_in(approver, "approver1")
            expect(approver.locator("#bell-count")).to_have_text("1")  # the report awaits approval
            approver.click("#nav-approvals")
            row = approver.locator(f'tr.report-row[data-report="{report}"]')
            expect(row).to_contain_text("승인 대기")
            row.locator("a.open-report").click()
            approver.fill("#approve-reason", "AI 도입 위원회 2026-12 정기 회의 의결")
            approver.check("#confirm-approve")
            approver.click("#approve-submit")
            expect(approver.locator("#approval-done")).to_have_text("승인했습니다.")
            expect(approver.locator(f'tr.report-row[data-report="{report}"]')).to_contain_text("승인됨")

            # The site publishes monitoring whose last weeks drifted.
            with hub() as s, s.begin():
                ingest_publication(s, get_user(s, "steward1"), publication(sha=sha, report_id=report, per_week=2))

            # The clinician: the deployed model's CHAI card, then feedback.
            clinician = browser.new_context().new_page()
            log_in(clinician, "clinician")
            clinician.click("#nav-clinician")
            clinician.locator("tr.deployed-model a").first.click()
            expect(clinician.locator("#card-intended-use")).to_have_text(card["intended_use"]["ko"])
            expect(clinician.locator("#card-performance tr")).to_have_count(1 + len(card["performance"]))
            clinician.check("#rating-useful")
            clinician.fill("#feedback-comment", "경고 카드가 진료 흐름에 맞습니다")
            clinician.click("#feedback-submit")
            expect(clinician.locator("#feedback-sent")).to_be_visible()
            expect(clinician.locator("tr.feedback-row").first).to_contain_text("경고 카드가 진료 흐름에 맞습니다")

            # The vendor: the bell, the approved report, the drift alert and the feedback; then the notifications.
            vendor = browser.new_context().new_page()
            log_in(vendor, "vendor")
            expect(vendor.locator("#bell-count")).to_have_text("3")  # approved, drift alert, feedback
            vendor.click("#nav-vendor")
            expect(vendor.locator(f'tr.vendor-report[data-report="{report}"][data-site="site-1"]')).to_contain_text(
                "승인됨"
            )
            expect(vendor.locator("tr.vendor-alert").first).to_be_visible()
            expect(vendor.locator("#vendor-alerts")).to_contain_text(SCORE_ALERT_KO.format(psi=0.47))
            expect(vendor.locator("#feedback")).to_contain_text("경고 카드가 진료 흐름에 맞습니다")
            vendor.click("#nav-bell")
            expect(vendor.locator('tr.notification.unread[data-kind="report_approved"]')).to_contain_text(report)
            vendor.click("#mark-all-read")
            expect(vendor.locator("tr.notification.unread")).to_have_count(0)
            expect(vendor.locator("#bell-count")).to_have_count(0)
            vendor.click("#lang-switch")
            expect(vendor.locator('tr.notification[data-kind="report_approved"]')).to_contain_text("was approved")
        finally:
            browser.close()
    mail = sink.wait_for(VENDOR_MAIL, subject_has=report)
    assert report in str(mail["Subject"]) and "site-1" in mail.get_content()

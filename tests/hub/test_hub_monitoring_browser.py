"""In headless Chromium (Playwright): a deployment approver opens monitoring, sees the drift alert and the plots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hub_monitoring_helpers import SCORE_ALERT_EN, SCORE_ALERT_KO, publication, register
from portal_helpers import CHROMIUM, FLAGS, PASSWORD, make_app, require_chromium, served
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.governance.users import get_user
from dari.hub.monitoring import ingest_publication


@pytest.fixture
def monitored_portal(hub_url: str, hub: sessionmaker[Session]) -> Iterator[str]:
    """The hub with a site-1 publication whose last two weeks drifted, served by uvicorn on loopback."""
    require_chromium()
    report = register(hub, approve=True)
    with hub() as s, s.begin():
        ingest_publication(s, get_user(s, "steward1"), publication(report_id=report, per_week=10))
    with served(make_app(hub_url, secure_cookies=False)) as url:
        yield url


@pytest.mark.slow
def test_browser_monitoring_alert_and_plots(monitored_portal: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{monitored_portal}/login")
            page.fill("#username", "approver1")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.click("#nav-monitoring")
            row = page.locator("tr.monitored").first
            expect(row.locator(".badge-critical")).to_have_text("점수 분포 변화")
            row.locator("a").first.click()
            alert = page.locator("tr.alert-row").first
            expect(alert).to_contain_text(SCORE_ALERT_KO.format(psi=0.47))
            expect(page.locator("svg.plot")).to_have_count(4)
            expect(page.locator("#plot-drift svg")).to_be_visible()
            # htmx swaps in the next page of the inference audit.
            page.click("#inferences-next")
            expect(page.locator("#inferences .pager")).to_contain_text("26–50 / 60")
            page.click("#lang-switch")
            expect(page.locator("tr.alert-row").first).to_contain_text(SCORE_ALERT_EN.format(psi=0.47))
        finally:
            browser.close()

"""End to end in headless Chromium (Playwright): search '당뇨', apply, two DRBs approve, the grant appears."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
import uvicorn
from portal_helpers import PASSWORD, make_app
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.web.search_service import concept_index

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def portal(hub_url: str, hub: sessionmaker[Session]) -> Iterator[str]:
    """The hub served by uvicorn on a loopback port (plain HTTP on loopback, so cookies without Secure)."""
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):  # type: ignore[attr-defined]
        reason = "!!! Chromium NOT INSTALLED (apt-get install chromium); the browser tests DID NOT RUN !!!"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    concept_index()  # the first build loads Kiwi and the sentence encoder: not part of what the browser waits for
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(hub_url, secure_cookies=False), host="127.0.0.1", port=port, log_level="warning")
    )
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
def test_browser_researcher_to_grant(portal: str) -> None:
    from playwright.sync_api import expect, sync_playwright

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
            # Apply for the site-1 and site-3 datasets.
            page.goto(f"{portal}/applications/new?dataset=site-1-cdm")
            page.fill("#title", "당뇨병 환자의 신기능 저하 예측 모델 검증")
            page.fill("#purpose", "Multicenter validation of a CKD progression model in patients with diabetes.")
            page.fill("#irb_number", "IRB-2026-0101")
            page.check("input[name=dataset_ids][value=site-3-cdm]")
            page.check("input[name=analysis_types][value=model_validation]")
            page.check("#dua")
            page.click("#application-submit")
            expect(page.locator("#application-status")).to_have_text("심의 중")
            application_url = page.url
            logout()
            # Both involved DRBs approve.
            for reviewer in ("drb1", "drb3"):
                login(reviewer)
                page.click("#nav-review")
                page.click("text=당뇨병 환자의 신기능 저하 예측 모델 검증")
                page.click("#review-submit")
                expect(page.locator(f"[data-site={'site-1' if reviewer == 'drb1' else 'site-3'}]")).to_have_text("승인")
                logout()
            # The grant appears for the researcher, in English after the switch.
            login("researcher")
            page.goto(application_url)
            expect(page.locator("#application-status")).to_have_text("승인")
            page.click("#nav-my")
            grant = page.locator("tr.grant").first
            expect(grant).to_contain_text("site-1-cdm, site-3-cdm")
            expect(grant).to_contain_text("모델 검증")  # the analysis type in words, not its code
            page.click("#lang-switch")
            expect(page.locator("tr.grant").first).to_contain_text("Active")
            expect(page.locator("tr.grant").first).to_contain_text("Model validation")
        finally:
            browser.close()

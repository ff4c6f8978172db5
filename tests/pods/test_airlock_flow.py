"""The whole research-pod journey on a real synthetic site, the real hub over HTTP and headless Chromium:

dummy data from the site's characterisation → local run in the sandbox → submission through the portal → the site
pulls it and runs it through its guard (bubblewrap) → automatic checks → two output checkers approve in the
portal → the site sends only the files no rule blocked → the researcher downloads them. The pod also tries to
smuggle the person table out as a CSV: that file is held back at the site and never reaches the hub.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from airlock_helpers import GOOD_MAIN, LEAKY_MAIN, PASSWORD, build_pod_hub, build_site, bundle_zip, serve_hub, tokens
from sqlalchemy import select

from dari.federation.site_audit import SiteAuditLog
from dari.federation.ticket import hub_public_pem
from dari.hub.db.models import AuditEntry
from dari.hub.db.pods import PodReleasedFile
from dari.pods.airlock_site import pull_and_run, push_decisions
from dari.pods.output_check import check_outputs

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
# The analysis writes its aggregate and report, and tries to smuggle the view's persons out three ways: the rows
# as a CSV, the person ids after the end of a PNG, and the ids as the columns of a wide table.
SMUGGLE = """
import struct, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
raw = b"".join(b"\\x00" + b"\\xff" * 24 for _ in range(8))
png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
ids = [str(i) for (i,) in duckdb.sql("SELECT person_id FROM '/pod/data/person.parquet'").fetchall()]
(out / "chart.png").write_bytes(png + ",".join(ids).encode())
(out / "wide.csv").write_text(",".join(ids) + "\\n" + ",".join("1" for _ in ids) + "\\n")
"""
MAIN = GOOD_MAIN + LEAKY_MAIN.replace("import duckdb, pathlib", "").replace("note.txt", "done.txt") + SMUGGLE
HELD = ["chart.png", "done.txt", "persons_by_sex.csv", "rows.csv", "summary.md", "wide.csv"]
RELEASED = ["done.txt", "persons_by_sex.csv", "summary.md"]
BLOCKED = {"rows.csv": "row_level", "chart.png": "png_trailing", "wide.csv": "wide_table"}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A hub (research-pod grant, two checkers at site-1) served on loopback, and site-1 with its CDM."""
    if not os.path.exists(CHROMIUM):
        reason = "!!! Chromium NOT INSTALLED (apt-get install chromium); the airlock browser test DID NOT RUN !!!"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("airlock-flow")
    hub_path = root / "hub.db"
    factory, grants = build_pod_hub(hub_path)
    site = build_site(root)
    for base in serve_hub(str(hub_path)):
        yield {"root": root, "hub": str(hub_path), "factory": factory, "grants": grants, "site": site, "url": base}


@pytest.mark.slow
def test_airlock_full_flow_in_the_browser(network: dict[str, object]) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    from dari.catalog.characterise import characterise
    from dari.cdm.store import open_store
    from dari.pods.dummy import make_dummy
    from dari.pods.runner import run_bundle

    root, site, base = Path(str(network["root"])), Path(str(network["site"])), str(network["url"])
    factory = network["factory"]
    bundle = root / "egfr-pod.zip"
    bundle.write_bytes(bundle_zip(MAIN))

    # The researcher develops against dummy data made from what the site publishes, in the same sandbox.
    store = open_store(site)
    try:
        published = characterise(store)
    finally:
        store.close()
    make_dummy(published, ["person"], root / "dummy", persons=200, seed=3)
    local = run_bundle(root / "dummy", bundle, grant=None, local=True)
    assert local.status == "ok", root / "dummy" / "pods" / "runs" / local.run_id / "logs" / "stderr.txt"
    local_checks = check_outputs(root / "dummy" / "pods" / "runs" / local.run_id / "outputs", cohort_size=200)
    assert local_checks.releasable() == RELEASED  # the researcher is told before submitting

    def log_in(page: Page, username: str) -> None:
        page.goto(f"{base}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            # Submission through the portal under the research-pod grant.
            researcher = browser.new_context(accept_downloads=True).new_page()
            log_in(researcher, "researcher")
            researcher.click("#nav-airlock")
            researcher.set_input_files("#pod-bundle", str(bundle))
            researcher.click("#pod-submit")
            expect(researcher.locator("#pod-status")).to_have_attribute("data-status", "submitted")
            pod_id = researcher.url.rsplit("/", 1)[-1]

            # The site pulls it with its steward's token, runs it through its guard, checks and holds the outputs.
            steward = tokens(factory, "steward1")["steward1"]  # type: ignore[arg-type]
            pem = hub_public_pem(str(network["hub"]))
            (held,) = pull_and_run(site, site_id="site-1", hub_url=base, token=steward, hub_public_key=pem)
            assert held.status == "held", held.reason
            assert sorted(held.files) == HELD

            # Two output checkers of site-1 decide in the portal; the first cannot decide twice.
            for name, reason in (("checker1", "집계만 포함, 10 미만 없음"), ("checker2", "두 번째 검토: 이상 없음")):
                checker = browser.new_context().new_page()
                log_in(checker, name)
                checker.click("#nav-airlock")
                checker.locator(f'tr.pod-row[data-pod="{pod_id}"] a.open-pod').click()
                for leak, rule in BLOCKED.items():
                    row = checker.locator(f'tr.pod-file.blocked[data-file="{leak}"]')
                    expect(row.locator(f'li.finding[data-rule="{rule}"]')).to_be_visible()
                expect(checker.locator('tr.pod-file[data-file="summary.md"]')).to_contain_text("문제 없음")
                checker.check("#decision-approve")
                checker.fill("#review-reason", reason)
                checker.click("#review-submit")
                expect(checker.locator("#pod-review-list")).to_contain_text(reason)
                if name == "checker1":
                    expect(checker.locator("#review-waiting")).to_be_visible()
                    expect(checker.locator("#pod-review-form")).to_have_count(0)
            expect(checker.locator("#pod-status")).to_have_attribute("data-status", "approved")

            # The site sends exactly the approved, unblocked files; the researcher downloads one.
            (sent,) = push_decisions(site, hub_url=base, token=steward)
            assert sent.status == "released" and sorted(sent.files) == RELEASED
            researcher.reload()
            expect(researcher.locator("#pod-status")).to_have_attribute("data-status", "released")
            with researcher.expect_download() as download:
                researcher.click('#pod-released a.download:has-text("persons_by_sex.csv")')
            got = Path(download.value.path()).read_bytes()
        finally:
            browser.close()

    # Assert: the bytes are the site's held file; the leak never reached the hub; both ends audited.
    run_outputs = site / "pods" / "runs" / str(sent.run_id) / "outputs"
    assert got == (run_outputs / "persons_by_sex.csv").read_bytes()
    assert got.startswith(b"sex,n_persons\n")
    with factory() as s:  # type: ignore[operator]
        released = sorted(s.execute(select(PodReleasedFile.name)).scalars())
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.target == f"pod:{pod_id}"))]
    assert released == RELEASED
    assert actions == ["pod.submit", "pod.pull", "pod.hold", "pod.review", "pod.review", "pod.release", "pod.download"]
    entries = SiteAuditLog(site).entries()
    events = [e["event"] for e in entries]
    (hold,) = [e for e in entries if e["event"] == "pod.hold"]
    assert sorted(hold["details"]["blocked"]) == sorted(BLOCKED)  # what was stopped, in the site's audit
    for event in ("pod.pull", "job.admit", "pod.run.start", "pod.run.ok", "job.ok", "pod.hold", "pod.release"):
        assert event in events, (event, events)

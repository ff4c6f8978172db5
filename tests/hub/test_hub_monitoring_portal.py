"""Monitoring pages of the portal: the overview with alert badges, a model's plots and alerts, the inference audit."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hub_monitoring_helpers import MODEL_SHA, SCORE_ALERT_EN, SCORE_ALERT_KO, publication, register, window
from markupsafe import escape
from portal_helpers import login, make_app
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.governance.users import get_user
from dari.hub.monitoring import ingest_publication
from dari.hub.web.monitoring_plots import monitoring_svgs
from dari.monitoring.publication import MonitoringPolicy

DETAIL = f"/monitoring/{MODEL_SHA}/site-1"


def _published(hub: sessionmaker[Session]) -> None:
    report = register(hub, approve=True)
    with hub() as s, s.begin():
        ingest_publication(s, get_user(s, "steward1"), publication(report_id=report, per_week=10))


def test_plots_are_inline_svg_with_thresholds() -> None:
    pub = publication()
    svgs = monitoring_svgs(pub.windows, pub.policy, "en")
    assert set(svgs) == {"drift", "discrimination", "calibration", "activity"}
    for svg in svgs.values():
        root = ET.fromstring(svg)  # well-formed, starts at <svg> (no XML declaration inside the page)
        assert root.tag.endswith("svg") and root.get("role") == "img"
        assert "http://" not in svg.replace("http://www.w3.org", "").replace("http://purl.org", "").replace(
            "http://creativecommons.org", ""
        )  # nothing fetched from elsewhere
    # The same windows are drawn once; a window without performance or latency still draws.
    assert monitoring_svgs(pub.windows, pub.policy, "en") == svgs
    bare = window(0, shifted=False).model_copy(update={"performance": None})
    assert len(monitoring_svgs([bare], MonitoringPolicy(), "ko")) == 4
    assert monitoring_svgs([], MonitoringPolicy(), "ko") == {}


def test_overview_lists_model_site_with_alert_badges(hub_url: str, hub: sessionmaker[Session]) -> None:
    app = make_app(hub_url)
    client, _ = login(app, "drb1")
    assert 'id="no-monitoring"' in client.get("/monitoring").text
    assert 'id="nav-monitoring"' in client.get("/catalog").text
    _published(hub)
    page = client.get("/monitoring").text
    row = re.search(r'<tr class="monitored".*?</tr>', page, re.S)
    assert row and "CKD progression 1.0" in row[0] and "다리대학교병원" in row[0]
    assert re.findall(r'data-kind="(\w+)"', row[0]) == ["score_drift", "calibration", "discrimination", "input_drift"]
    assert 'class="badge badge-critical" data-kind="score_drift">점수 분포 변화' in row[0]
    assert "0.470" in row[0] and "0.710" in row[0] and "1.40" in row[0]  # the latest window's score PSI, AUROC, O/E
    english = client.get("/monitoring?lang=en").text
    assert "Score drift" in english and "Dari University Hospital" in english


def test_detail_page_has_plots_alerts_and_audit(hub_url: str, hub: sessionmaker[Session]) -> None:
    _published(hub)
    app = make_app(hub_url)
    client, _ = login(app, "steward1")
    page = client.get(DETAIL)
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg ") == 4 and all(f'id="plot-{k}"' in html for k in ("drift", "discrimination"))
    rows = re.findall(r'<tr class="alert-row".*?</tr>', html, re.S)
    assert len(rows) == 8 and escape(SCORE_ALERT_KO.format(psi=0.47)) in rows[0]
    assert escape(SCORE_ALERT_EN.format(psi=0.47)) in client.get(DETAIL + "?lang=en").text
    assert len(re.findall(r'<tr class="inference"', html)) == 25 and 'id="inferences-next"' in html
    # htmx asks for the next page and the 412s only.
    second = client.get(DETAIL + "/inferences?offset=25", headers={"hx-request": "true"}).text
    assert second.lstrip().startswith('<div id="inferences">') and "<html" not in second
    assert len(re.findall(r'<tr class="inference"', second)) == 25 and 'id="inferences-previous"' in second
    refused = client.get(DETAIL + "/inferences?status=412").text
    assert re.findall(r'<tr class="inference" data-status="(\d+)"', refused) == ["412"] * 6
    # Without htmx the page itself pages (links work without JavaScript).
    assert len(re.findall(r'<tr class="inference"', client.get(DETAIL + "?offset=50").text)) == 10


def test_detail_page_inference_audit_only_for_the_site(hub_url: str, hub: sessionmaker[Session]) -> None:
    _published(hub)
    app = make_app(hub_url)
    other, _ = login(app, "steward2")
    html = other.get(DETAIL).text
    assert 'id="inferences-site-only"' in html and '<tr class="inference"' not in html
    assert html.count("<svg ") == 4  # the consortium still sees the model's drift and performance
    assert other.get(DETAIL + "/inferences").status_code == 403
    researcher, _ = login(app, "researcher")
    assert researcher.get("/monitoring").status_code == 403
    assert 'id="nav-monitoring"' not in researcher.get("/catalog").text
    admin, _ = login(app, "admin")
    assert admin.get(f"/monitoring/{'ef' * 32}/site-1").status_code == 404
    assert admin.get("/monitoring/not-a-sha/site-1").status_code == 422
    assert admin.get(DETAIL + "/inferences?offset=-1").status_code == 422

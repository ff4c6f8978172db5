"""Property: whatever the votes and their order, a grant exists exactly when every involved site approved."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import Grant
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.errors import ConflictError, ForbiddenError
from dari.hub.governance.grants import check_grant, revoke_grant
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import add_user, get_user

REVIEWERS = ["drb1", "drb2a", "drb2b", "drb3"]
SITE_OF = {"drb1": "site-1", "drb2a": "site-2", "drb2b": "site-2", "drb3": "site-3"}
QUORUM = {"site-1": 1, "site-2": 2, "site-3": 1}

votes = st.lists(st.tuples(st.sampled_from(REVIEWERS), st.sampled_from(list(Decision))), max_size=8)
dataset_sets = st.lists(st.sampled_from(["site-1-cdm", "site-2-cdm", "site-3-cdm"]), min_size=1, unique=True)


def _expected(sites: set[str], cast: dict[str, Decision]) -> str:
    by_site = {s: [d for r, d in cast.items() if SITE_OF[r] == s] for s in sites}
    if any(Decision.REJECT in ds for ds in by_site.values()):
        return "rejected"
    return "approved" if all(len(ds) >= QUORUM[s] for s, ds in by_site.items()) else "under_review"


@settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(datasets=dataset_sets, sequence=votes, days=st.integers(1, 400), revoke=st.booleans())
def test_property_no_grant_without_all_approvals(
    hub: sessionmaker[Session], datasets: list[str], sequence: list[tuple[str, Decision]], days: int, revoke: bool
) -> None:
    today = dt.date.today()
    sites = {d.removesuffix("-cdm") for d in datasets}
    applicant = f"vendor-{uuid.uuid4().hex[:8]}"  # a fresh applicant: earlier examples' grants must not count
    with hub() as s, s.begin():
        add_user(s, username=applicant, password="long-enough-pw", role="ai_vendor")
        app = submit_application(
            s,
            get_user(s, applicant),
            ApplicationCreate(
                title="property run",
                purpose="property-based governance test",
                irb_number="IRB-PROP-1",
                dataset_ids=datasets,
                analysis_types=[AnalysisType.FEASIBILITY],
                period_start=today,
                period_end=today + dt.timedelta(days=days),
                dua_accepted=True,
            ),
        )
        app_id = app.id
    cast: dict[str, Decision] = {}
    status = "under_review"
    for reviewer, decision in sequence:
        try:
            with hub() as s, s.begin():
                status = record_review(
                    s, get_user(s, reviewer), app_id, ReviewCreate(decision=decision, comment="c")
                ).status
            cast[reviewer] = decision
        except (ConflictError, ForbiddenError):
            pass  # not involved, voted already, or settled: refused and nothing changed
        if status == "under_review" or reviewer in cast:
            assert status == _expected(sites, cast) or status != "under_review"
    with hub() as s, s.begin():
        grant = s.execute(select(Grant).where(Grant.application_id == app_id)).scalar_one_or_none()
        assert (grant is not None) == (status == "approved") == (_expected(sites, cast) == "approved")
        now = dt.datetime.now(dt.UTC)
        allowed_now = check_grant(s, applicant, datasets[0], "feasibility", now, record=False).allowed
        assert allowed_now == (grant is not None)
        after_end = now + dt.timedelta(days=days + 2)
        assert not check_grant(s, applicant, datasets[0], "feasibility", after_end, record=False).allowed
        if grant is not None and revoke:
            revoke_grant(s, get_user(s, "admin"), grant.id, "property test")
            assert not check_grant(s, applicant, datasets[0], "feasibility", now, record=False).allowed

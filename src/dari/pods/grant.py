"""What a site-side pod run is allowed to use: the site guard's `Admission` plus the grant's variables and target k.

The hub sends a `PodRequest` for one run at one site; its SHA-256 (`dari.federation.ticket.params_sha256`) is the
ticket's `params_sha256`, so the variables, the bundle hash and the DRB's k reach the site only as the hub signed
them. The guard (`dari.federation.guard.SiteGuard`) admits the job under analysis type `research_pod`; the
runner gets a `PodGrant` and refuses anything else.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules
from dari.errors import DariError
from dari.federation.guard import Admission, JobClaim
from dari.federation.ticket import params_sha256
from dari.hub.governance.requested_data import RequestedVariable
from dari.signing import SignedEnvelope

#: The analysis type a grant must include for a pod; part 2 (`airlock`) adds it to
#: `dari.hub.governance.applications.AnalysisType`; until then it is read from here only.
RESEARCH_POD = "research_pod"
DEFAULT_TARGET_K = 5
DEFAULT_MAX_SUPPRESSION = 0.05


class PodGrantError(DariError):
    """A pod run without a grant that covers it (no grant, another analysis type, another bundle)."""

    exit_code = 5


class PodRequest(BaseModel):
    """One pod run at the sites, as the hub sends it (everything but the tickets is hashed into them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: str = Field(min_length=1, max_length=64)
    requester: str = Field(min_length=1, max_length=64)
    datasets: dict[str, str] = Field(min_length=1, description="site id → dataset id")
    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    variables: list[RequestedVariable] = Field(min_length=1, max_length=200)
    target_k: int = Field(default=DEFAULT_TARGET_K, ge=2, le=1000, description="the DRB's re-identification target")
    max_suppression: float = Field(default=DEFAULT_MAX_SUPPRESSION, ge=0.0, le=0.5)
    tickets: dict[str, SignedEnvelope] = Field(default_factory=dict)

    def claim(self) -> JobClaim:
        """The claim the site guard checks (analysis type `research_pod`, no model)."""
        return JobClaim(
            job_id=self.job_id,
            requester=self.requester,
            analysis_type=RESEARCH_POD,
            datasets=self.datasets,
            model_sha256=None,
            params_sha256=params_sha256(self),
            tickets=self.tickets,
        )


class PodGrant(BaseModel):
    """What the runner is given at a site: the guard's admission and what the grant lets the pod see."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    admission: Admission
    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    variables: list[RequestedVariable] = Field(min_length=1)
    target_k: int = Field(default=DEFAULT_TARGET_K, ge=2)
    max_suppression: float = Field(default=DEFAULT_MAX_SUPPRESSION, ge=0.0, le=0.5)
    # Concept set id → this site's concept ids (resolved at the site, `dari.cohort.resolve`); a variable that
    # names a concept set sees only those rows of its table.
    concept_sets: dict[str, list[int]] = Field(default_factory=dict)

    @classmethod
    def from_request(
        cls, admission: Admission, request: PodRequest, concept_sets: Mapping[str, list[int]] | None = None
    ) -> PodGrant:
        """The grant of an admitted request."""
        return cls(
            admission=admission,
            bundle_sha256=request.bundle_sha256,
            variables=request.variables,
            target_k=request.target_k,
            max_suppression=request.max_suppression,
            concept_sets=dict(concept_sets or {}),
        )

    @property
    def rules(self) -> DisclosureRules:
        """The site-enforced disclosure rules of the admission (the floor for output checking)."""
        return self.admission.rules


def require_grant(grant: PodGrant | None, bundle_sha256: str, *, local: bool) -> None:
    """Refuse (`PodGrantError`) a site run without a grant for the pod analysis type and this very bundle."""
    if local:
        if grant is not None:
            raise PodGrantError("a local run (--local) uses dummy data only and takes no grant")
        return
    if grant is None:
        raise PodGrantError("no grant: a pod runs on the site's data only under a grant that includes research_pod")
    if grant.admission.analysis_type != RESEARCH_POD:
        raise PodGrantError(f"the admission is for {grant.admission.analysis_type}, not {RESEARCH_POD}")
    if grant.bundle_sha256 != bundle_sha256:
        raise PodGrantError("the bundle is not the one the grant's submission recorded (SHA-256 differs)")

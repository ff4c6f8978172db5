"""Roles of the hub and what each may do; checked on the server for every route and service call."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The people the hub serves."""

    PLATFORM_ADMIN = "platform_admin"
    DATA_STEWARD = "data_steward"
    DRB_MEMBER = "drb_member"
    RESEARCHER = "researcher"
    AI_VENDOR = "ai_vendor"
    CLINICIAN = "clinician"
    DEPLOYMENT_APPROVER = "deployment_approver"
    OUTPUT_CHECKER = "output_checker"


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.PLATFORM_ADMIN: ("플랫폼 관리자", "Platform administrator"),
    Role.DATA_STEWARD: ("데이터 관리자", "Site data steward"),
    Role.DRB_MEMBER: ("데이터심의위원", "DRB member"),
    Role.RESEARCHER: ("연구자", "Researcher"),
    Role.AI_VENDOR: ("AI 기업", "AI vendor"),
    Role.CLINICIAN: ("임상의", "Clinician"),
    Role.DEPLOYMENT_APPROVER: ("AI 도입 승인 위원", "Deployment approver (site AI committee)"),
    Role.OUTPUT_CHECKER: ("반출 검토자", "Output checker (research pods)"),
}

SITE_ROLES = frozenset({Role.DATA_STEWARD, Role.DRB_MEMBER, Role.DEPLOYMENT_APPROVER, Role.OUTPUT_CHECKER})
APPLICANT_ROLES = frozenset({Role.RESEARCHER, Role.AI_VENDOR})


class Permission(StrEnum):
    """Actions the hub guards."""

    SEARCH_CATALOG = "search_catalog"
    PUBLISH_DATASET = "publish_dataset"
    APPLY = "apply"
    REVIEW = "review"
    REVOKE_GRANT = "revoke_grant"
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"
    REGISTER_MODEL = "register_model"
    APPROVE_DEPLOYMENT = "approve_deployment"
    PUBLISH_MONITORING = "publish_monitoring"
    VIEW_MONITORING = "view_monitoring"
    CHECK_OUTPUTS = "check_outputs"


# Rules as data: which role holds which permission (site scoping is checked where the site is known).
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.SEARCH_CATALOG: frozenset(Role),
    Permission.PUBLISH_DATASET: frozenset({Role.DATA_STEWARD, Role.PLATFORM_ADMIN}),
    Permission.APPLY: APPLICANT_ROLES,
    Permission.REVIEW: frozenset({Role.DRB_MEMBER}),
    Permission.REVOKE_GRANT: frozenset({Role.PLATFORM_ADMIN, Role.DRB_MEMBER}),
    Permission.VIEW_AUDIT: frozenset({Role.PLATFORM_ADMIN, Role.DRB_MEMBER, Role.DATA_STEWARD}),
    Permission.MANAGE_USERS: frozenset({Role.PLATFORM_ADMIN}),
    Permission.REGISTER_MODEL: frozenset({Role.AI_VENDOR, Role.RESEARCHER, Role.PLATFORM_ADMIN}),
    Permission.APPROVE_DEPLOYMENT: frozenset({Role.DEPLOYMENT_APPROVER}),
    # A site's own steward publishes its monitoring (own site only, checked in dari.hub.monitoring).
    Permission.PUBLISH_MONITORING: frozenset({Role.DATA_STEWARD, Role.PLATFORM_ADMIN}),
    # Those who govern data and deployments watch models in use; per-call inference audits stay with the site.
    Permission.VIEW_MONITORING: frozenset(
        {Role.PLATFORM_ADMIN, Role.DRB_MEMBER, Role.DATA_STEWARD, Role.DEPLOYMENT_APPROVER}
    ),
    # A research pod's held outputs leave a site only after two of that site's output checkers approve them
    # (own site only, and never the same person twice: checked in dari.hub.pods).
    Permission.CHECK_OUTPUTS: frozenset({Role.OUTPUT_CHECKER}),
}


def allowed(role: str, permission: Permission) -> bool:
    """Whether a role holds a permission."""
    return role in PERMISSIONS[permission]

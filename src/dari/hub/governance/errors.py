"""Governance errors; the portal and API turn them into 4xx responses, the CLI into exit codes."""

from __future__ import annotations

from dari.errors import DariError, InputError


class ForbiddenError(DariError):
    """The user's role or site does not allow the action (HTTP 403); the attempt is audited."""

    exit_code = 5


class NotFoundError(InputError):
    """An unknown dataset, application, grant or user (HTTP 404)."""


class ConflictError(InputError):
    """The action contradicts the current state: a duplicate submission, a second vote, a decided application."""


class AuthenticationError(DariError):
    """Wrong user name or password, or an expired or unknown session or token (HTTP 401)."""

    exit_code = 5

"""What the governance pages share: the template helpers (times in Korea, labels, states) and the
confirmation page that every decision goes through."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from dari.errors import InputError
from dari.hub.db.models import User
from dari.hub.governance.applications import ANALYSIS_LABELS, SEOUL, last_day, seoul_day
from dari.hub.governance.grants import grant_sites, grant_state, revoked_sites
from dari.hub.governance.requested_data import TABLE_LABELS
from dari.hub.governance.review import DECISION_LABELS
from dari.hub.web.deps import state


def form_error(exc: ValidationError) -> InputError:
    """The form's field errors: the error handler shows the form again, filled in (`dari.hub.web.forms`)."""
    from dari.hub.web.forms import form_error as refill

    return refill(exc)


def seoul_time(value: dt.datetime) -> str:
    """A stored instant as Korean time."""
    at = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")


def template_helpers(lang: str) -> dict[str, Any]:
    """What every governance template uses to show times, labels and statuses."""
    return {
        "lang": lang,
        "seoul_day": seoul_day,
        "last_day": last_day,
        "seoul_time": seoul_time,
        "analysis_labels": {k.value: v for k, v in ANALYSIS_LABELS.items()},
        "table_labels": TABLE_LABELS,
        "decisions": DECISION_LABELS,
        "now": dt.datetime.now(dt.UTC),
        "grant_state": grant_state,
        "grant_sites": grant_sites,
        "revoked_sites": revoked_sites,
    }


def confirm_page(request: Request, web: Any, user: User, lang: str, **page: Any) -> Response:
    """The confirmation step: what will be recorded, the hidden fields, and a button that sends confirmed=yes."""
    return state(request).templates.TemplateResponse(
        request, "confirm.html", {**template_helpers(lang), "user": user, "csrf": web.csrf_token, **page}
    )

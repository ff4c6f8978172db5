"""Forms shown again after an error: the person's input kept and each field's message beside the field.

A form route raises `FormError` (or FastAPI raises `RequestValidationError` before the route runs); the error
handler (`app.py`) renders the form's own page again, as the browser would get it, and fills it with what was sent
(FormEncode's htmlfill, so no template has to repeat every value). A new form takes part by naming the page its
POST route is shown on in `FORM_PAGES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from formencode import htmlfill
from pydantic import ValidationError

from dari.errors import InputError
from dari.hub.web.i18n import translate

# The POST route (its path template) → the page that shows its form (a path template of the same parameters).
FORM_PAGES: dict[str, str] = {
    "/applications": "/applications/new",
    "/applications/{application_id}/reviews": "/applications/{application_id}",
    "/login": "/login",
}
# Never sent back into a page: secrets, and the tokens the page renders fresh for this request.
NOT_REFILLED = frozenset({"password", "csrf_token", "submission_key"})
# Errors on the whole form (pydantic's model validators) are shown beside the field they are about.
WHOLE_FORM_FIELD: dict[str, str] = {"/applications": "period_end"}

# pydantic's error types → the message key in i18n.MESSAGES (a person's words, not the validator's).
_MESSAGE_OF_TYPE: dict[str, str] = {
    "missing": "field_required",
    "date_parsing": "field_date",
    "date_from_datetime_parsing": "field_date",
    "date_type": "field_date",
    "string_too_short": "field_too_short",
    "string_too_long": "field_too_long",
    "too_short": "field_choose",
    "too_long": "field_too_many",
    "literal_error": "field_must_accept",
    "enum": "field_choice",
    "bool_parsing": "field_must_accept",
}
# Messages of dari's own validators (English, in the models) → the message key, by the words they start with.
_MESSAGE_OF_TEXT: dict[str, str] = {
    "Value error, must be an IRB approval number": "field_irb",
    "Value error, period_end must be after period_start": "field_period_order",
    "Value error, the period may last at most": "field_period_long",
    "Value error, items must not repeat": "field_repeated",
    "Value error, analysis types must not repeat": "field_repeated",
}


class FormError(InputError):
    """A form with field errors (field name → message key or message); the page shows it again, filled in."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("the form has errors in: " + ", ".join(errors))
        self.errors = dict(errors)


def field_messages(errors: Iterable[Mapping[str, Any]], *, skip: int = 0, whole_form: str = "") -> dict[str, str]:
    """pydantic error dicts → {field: message key} (first error per field); `skip` drops loc's leading parts."""
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())[skip:] if not isinstance(part, int)]
        field = loc[0] if loc else whole_form
        if not field or field in found:
            continue
        message = str(error.get("msg", ""))
        key = _MESSAGE_OF_TYPE.get(str(error.get("type", "")))
        key = key or next((k for text, k in _MESSAGE_OF_TEXT.items() if message.startswith(text)), "field_invalid")
        found[field] = key
    return found


def form_error(exc: ValidationError, *, whole_form: str = "") -> FormError:
    """A FormError from a pydantic model's validation of a submitted form."""
    return FormError(field_messages(exc.errors(), whole_form=whole_form))


def refill(page: str, values: Mapping[str, str | Sequence[str]], errors: Mapping[str, str], lang: str) -> str:
    """The page's HTML with its form fields set to `values` and each error message right after its field."""
    kept = {name: value for name, value in values.items() if name not in NOT_REFILLED}
    # htmlfill hands the formatter the message alone: the field's name rides along before a NUL, for the id.
    messages = {name: f"{name}\0{translate(key, lang)}" for name, key in errors.items()}
    filled: str = htmlfill.render(
        page,
        defaults=kept,
        errors=messages,
        force_defaults=False,  # fields not sent (unchecked boxes aside) keep what the page puts in them
        prefix_error=False,
        auto_error_formatter=_beside_field,
        error_formatters={"default": _beside_field},
        add_attributes={name: {"aria-invalid": "true", "aria-describedby": f"error-{name}"} for name in messages},
        encoding="utf-8",
    )
    return filled


def _beside_field(message: str) -> str:
    name, _, text = message.partition("\0")
    return f'<span class="field-error" id="error-{escape(name)}" role="alert">{escape(text)}</span>'

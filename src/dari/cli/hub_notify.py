"""`dari hub notify-expiring`: tell grantees of grants ending soon, and mail what is unsent when SMTP is set.

The SMTP password is never an option: it comes from the variable `--smtp-password-env` names or the file
`--smtp-password-file` names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from dari.errors import InputError

if TYPE_CHECKING:
    from dari.hub.settings import SmtpSettings

from dari.cli.console import err, guarded, out

DbOption = Annotated[
    str, typer.Option("--db", envvar="DARI_HUB_DB", help="Hub store: SQLite file or postgresql:// URL.")
]


def smtp_from_env() -> SmtpSettings | None:
    """The SMTP server `dari hub serve` mails through: DARI_SMTP_HOST (unset: no mail), DARI_SMTP_PORT,
    DARI_SMTP_FROM, DARI_SMTP_STARTTLS (1/0), DARI_SMTP_USER, DARI_SMTP_PASSWORD_ENV or DARI_SMTP_PASSWORD_FILE."""
    from dari.hub.settings import SmtpSettings

    env = os.environ
    if not env.get("DARI_SMTP_HOST"):
        return None
    try:
        return SmtpSettings(
            host=env["DARI_SMTP_HOST"],
            port=int(env.get("DARI_SMTP_PORT", "587")),
            sender=env.get("DARI_SMTP_FROM", "dari-hub@localhost.localdomain"),
            starttls=env.get("DARI_SMTP_STARTTLS", "1") not in ("0", "false", "no"),
            username=env.get("DARI_SMTP_USER") or None,
            password_env=env.get("DARI_SMTP_PASSWORD_ENV") or None,
            password_file=Path(env["DARI_SMTP_PASSWORD_FILE"]) if env.get("DARI_SMTP_PASSWORD_FILE") else None,
            portal_url=env.get("DARI_PORTAL_URL") or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(f"DARI_SMTP_* setting {first['loc'][0]}: {first['msg']}") from None
    except ValueError:
        raise InputError("DARI_SMTP_PORT must be a whole number") from None


def notify_expiring(
    days: Annotated[int, typer.Option(min=1, max=365, help="Tell of grants ending within this many days.")] = 14,
    smtp_host: Annotated[
        str | None, typer.Option(envvar="DARI_SMTP_HOST", help="SMTP server (no mail if unset).")
    ] = None,
    smtp_port: Annotated[int, typer.Option(envvar="DARI_SMTP_PORT", min=1, max=65535)] = 587,
    smtp_from: Annotated[
        str, typer.Option(envvar="DARI_SMTP_FROM", help="From: address.")
    ] = "dari-hub@localhost.localdomain",
    starttls: Annotated[bool, typer.Option("--starttls/--no-starttls", envvar="DARI_SMTP_STARTTLS")] = True,
    smtp_user: Annotated[str | None, typer.Option(envvar="DARI_SMTP_USER")] = None,
    smtp_password_env: Annotated[str | None, typer.Option(help="Name of the variable holding the password.")] = None,
    smtp_password_file: Annotated[Path | None, typer.Option(help="File holding the password.")] = None,
    db: DbOption = "hub.db",
) -> None:
    """Notify grantees of grants that end within DAYS (once per grant); mail unsent notifications."""
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.notifications import deliver_mail
    from dari.hub.notifications import notify_expiring as check
    from dari.hub.settings import SmtpSettings

    with guarded():
        try:
            smtp = (
                SmtpSettings(
                    host=smtp_host,
                    port=smtp_port,
                    sender=smtp_from,
                    starttls=starttls,
                    username=smtp_user,
                    password_env=smtp_password_env,
                    password_file=smtp_password_file,
                )
                if smtp_host
                else None
            )
        except ValidationError as exc:
            raise InputError(f"SMTP settings: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
        engine = make_engine(db)
        require_schema(engine)
        factory = session_factory(engine)
        with factory() as session, session.begin():
            told = check(session, days=days)
        mailed = deliver_mail(factory, smtp) if smtp else 0
        out.print(f"{told}")
        err.print(f"{told} grant(s) ending within {days} days notified; {mailed} e-mail(s) sent")

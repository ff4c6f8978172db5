"""Notifications: every state change that concerns a user lands in their in-app list, and is mailed when the hub
has an SMTP server configured and the user gave an address.

Services call `notify(session, users, kind, subject_ko, subject_en, link)` in one line, inside their own
transaction, so a notification exists exactly when the change it tells of was committed. E-mail goes out only
after that commit (`mail_after_commit` listens on the session factory and delivers in a background thread), so a
slow or dead SMTP server never holds a portal request or the store's write lock. Subjects and links name reports,
grants and models, never a patient; log lines name neither the address nor the subject.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterable
from email.message import EmailMessage

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dari.errors import InputError
from dari.hub.db.models import Grant, RegisteredModel, User, ValidationReport, utcnow
from dari.hub.db.roles_tables import EmailAddress, Notification
from dari.hub.settings import SmtpSettings
from dari.monitoring.publication import Alert

KINDS = frozenset(
    {
        "application_submitted",
        "application_decided",
        "grant_expiring",
        "grant_revoked",
        "report_submitted",
        "report_approved",
        "report_withdrawn",
        "drift_alert",
        "model_feedback",
        # research pods (dari.hub.pods, dari.hub.pods_airlock)
        "pod_submitted",
        "pod_ran",
        "pod_held",
        "pod_decided",
        "pod_released",
    }
)
MAX_MAIL_ATTEMPTS = 3
EXPIRY_NOTICE_DAYS = 14
_NOTIFIED = "dari_notified"  # session.info flag: this transaction wrote notifications
_ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_log = logging.getLogger("dari.hub.notifications")


def notify(
    session: Session, users: User | Iterable[User], kind: str, subject_ko: str, subject_en: str, link: str
) -> list[Notification]:
    """Tell each user (once, even if listed twice) of a state change that concerns them."""
    if kind not in KINDS:
        raise ValueError(f"notification kind must be one of {sorted(KINDS)}, got {kind!r}")
    if not link.startswith("/"):
        raise ValueError(f"notification link must be a portal path starting with '/', got {link[:80]!r}")
    targets = [users] if isinstance(users, User) else list(users)
    seen: set[int] = set()
    made: list[Notification] = []
    for user in targets:
        if user.id in seen or not user.active:
            continue
        seen.add(user.id)
        note = Notification(
            user_id=user.id, kind=kind, subject_ko=subject_ko[:300], subject_en=subject_en[:300], link=link[:300]
        )
        session.add(note)
        made.append(note)
    if made:
        session.flush()
        session.info[_NOTIFIED] = True
    return made


def users_at_site(session: Session, site_id: str, roles: Iterable[str]) -> list[User]:
    """The active users of a site holding one of `roles` (whom a site's events concern)."""
    query = select(User).where(User.site_id == site_id, User.role.in_(list(roles)), User.active.is_(True))
    return list(session.execute(query.order_by(User.id)).scalars())


def users_by_id(session: Session, ids: Iterable[int]) -> list[User]:
    """Users by id (those that exist)."""
    wanted = sorted(set(ids))
    return list(session.execute(select(User).where(User.id.in_(wanted)).order_by(User.id)).scalars())


def notify_report_decision(session: Session, report: ValidationReport, site_id: str, *, withdrawn: bool) -> None:
    """Tell of a site's approval or withdrawal of a report: its submitter (vendor page), the site's clinicians
    (deployed models) and, on withdrawal, the site's approvers (their queue)."""
    if withdrawn:
        kind = "report_withdrawn"
        ko = f"검증 보고서 {report.id}의 {site_id} 승인이 철회되었습니다"
        en = f"Approval of validation report {report.id} at {site_id} was withdrawn"
    else:
        kind = "report_approved"
        ko = f"검증 보고서 {report.id}이(가) {site_id}에서 승인되었습니다"
        en = f"Validation report {report.id} was approved at {site_id}"
    notify(session, users_by_id(session, [report.submitted_by]), kind, ko, en, "/vendor")
    notify(session, users_at_site(session, site_id, ["clinician"]), kind, ko, en, "/clinician")
    if withdrawn:
        notify(session, users_at_site(session, site_id, ["deployment_approver"]), kind, ko, en, "/approvals")


def notify_drift(session: Session, model_sha256: str, site_id: str, alert: Alert) -> None:
    """Tell the model's registrant (vendor page) and the site's approvers and stewards (monitoring page) of an
    alert; one unread notice per person, model and site, however many windows and kinds raise alerts."""
    model = session.get(RegisteredModel, model_sha256)
    name = model.name if model else model_sha256[:16]
    subject_ko = f"{name} ({site_id}) 경보: {alert.message_ko}"
    subject_en = f"{name} ({site_id}) alert: {alert.message_en}"
    audiences = [
        (users_by_id(session, [model.registered_by]) if model else [], f"/vendor#model-{model_sha256[:16]}"),
        (
            users_at_site(session, site_id, ["deployment_approver", "data_steward"]),
            f"/monitoring/{model_sha256}/{site_id}",
        ),
    ]
    for users, link in audiences:
        unread = set(
            session.execute(
                select(Notification.user_id).where(
                    Notification.kind == "drift_alert", Notification.link == link, Notification.read_at.is_(None)
                )
            ).scalars()
        )
        notify(session, [u for u in users if u.id not in unread], "drift_alert", subject_ko, subject_en, link)


def unread_count(session: Session, user: User) -> int:
    """How many of the user's notifications are unread (the number on the bell)."""
    query = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return int(session.execute(query).scalar_one())


def notifications_of(session: Session, user: User, limit: int = 200) -> list[Notification]:
    """The user's newest notifications first."""
    query = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc()).limit(limit)
    return list(session.execute(query).scalars())


def mark_read(session: Session, user: User, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; returns how many changed."""
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    result = session.execute(query.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def set_address(session: Session, user: User, address: str) -> EmailAddress | None:
    """Set (or, with an empty string, remove) where the user's notifications are mailed."""
    address = address.strip()
    found = session.get(EmailAddress, user.id)
    if not address:
        if found is not None:
            session.delete(found)
        return None
    if not _ADDRESS.match(address) or len(address) > 254:
        raise InputError("field 'email' must be an e-mail address like name@hospital.kr")
    if found is None:
        found = EmailAddress(user_id=user.id, address=address)
        session.add(found)
    else:
        found.address, found.updated_at = address, utcnow()
    session.flush()
    return found


def address_of(session: Session, user: User) -> str | None:
    """The user's notification address, if they gave one."""
    found = session.get(EmailAddress, user.id)
    return found.address if found else None


def notify_expiring(
    session: Session, *, user: User | None = None, days: int = EXPIRY_NOTICE_DAYS, now: dt.datetime | None = None
) -> int:
    """Tell grantees (or only `user`) of active grants ending within `days`; once per grant. Returns how many."""
    at = now or utcnow()
    query = select(Grant).where(
        Grant.revoked_at.is_(None), Grant.valid_until > at, Grant.valid_until <= at + dt.timedelta(days=days)
    )
    if user is not None:
        query = query.where(Grant.grantee_id == user.id)
    told = set(session.execute(select(Notification.link).where(Notification.kind == "grant_expiring")).scalars().all())
    count = 0
    for grant in session.execute(query.order_by(Grant.id)).scalars():
        link = f"/grants#{grant.id}"
        if link in told:
            continue
        until = grant.valid_until.date().isoformat()
        notify(
            session,
            grant.grantee,
            "grant_expiring",
            f"이용 권한 {grant.id}이(가) {until}에 만료됩니다",
            f"Access grant {grant.id} expires on {until}",
            link,
        )
        count += 1
    return count


def _password(smtp: SmtpSettings) -> str | None:
    if smtp.password_env:
        value = os.environ.get(smtp.password_env)
        if value is None:
            raise InputError(f"the SMTP password variable {smtp.password_env} is not set")
        return value
    if smtp.password_file:
        try:
            return smtp.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(
                f"cannot read the SMTP password file: {exc.strerror}", file=str(smtp.password_file)
            ) from None
    return None


def _message(smtp: SmtpSettings, to: str, note: Notification) -> EmailMessage:
    link = (smtp.portal_url.rstrip("/") if smtp.portal_url else "") + note.link
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = f"[dari] {note.subject_ko}"
    message.set_content(f"{note.subject_ko}\n{note.subject_en}\n\n{link}\n\n— 다리 허브 · dari hub\n")
    return message


def deliver_mail(factory: sessionmaker[Session], smtp: SmtpSettings, limit: int = 100) -> int:
    """Mail unsent notifications of users with an address; returns how many were sent (failures are retried)."""
    with factory() as session, session.begin():
        rows = session.execute(
            select(Notification, EmailAddress.address)
            .join(EmailAddress, EmailAddress.user_id == Notification.user_id)
            .where(
                Notification.mailed_at.is_(None),
                Notification.mail_attempts < MAX_MAIL_ATTEMPTS,
                # Only what happened since the address was given: setting one must not flood it with the past.
                Notification.created_at >= EmailAddress.updated_at,
            )
            .order_by(Notification.id)
            .limit(limit)
        ).all()
        if not rows:
            return 0
        # Claimed before sending, outside this transaction, so a dead server costs at most MAX_MAIL_ATTEMPTS tries.
        ids = [note.id for note, _ in rows]
        session.execute(
            update(Notification).where(Notification.id.in_(ids)).values(mail_attempts=Notification.mail_attempts + 1)
        )
    sent: list[int] = []
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            password = _password(smtp)
            if smtp.username and password is not None:
                server.login(smtp.username, password)
            for note, address in rows:
                try:
                    server.send_message(_message(smtp, address, note))
                    sent.append(note.id)
                except smtplib.SMTPRecipientsRefused:
                    _log.warning("notification %d: the SMTP server refused the recipient", note.id)
    except (OSError, smtplib.SMTPException, InputError) as exc:
        # Neither the address nor the subject goes in the log: only which notification and the error's kind.
        _log.warning("mailing notifications failed after %d sent: %s", len(sent), type(exc).__name__)
    if sent:
        with factory() as session, session.begin():
            session.execute(update(Notification).where(Notification.id.in_(sent)).values(mailed_at=utcnow()))
    return len(sent)


def mail_after_commit(factory: sessionmaker[Session], smtp: SmtpSettings | None) -> Callable[[], None]:
    """Deliver mail in the background after each commit that wrote notifications; returns a function that waits
    for the deliveries in flight (tests, shutdown)."""
    threads: list[threading.Thread] = []
    if smtp is None:
        return lambda: None
    from sqlalchemy import event

    def after_commit(session: Session) -> None:
        if session.info.pop(_NOTIFIED, False):
            thread = threading.Thread(target=deliver_mail, args=(factory, smtp), daemon=True, name="dari-mail")
            threads.append(thread)
            thread.start()

    def after_rollback(session: Session) -> None:
        session.info.pop(_NOTIFIED, None)

    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)

    def wait() -> None:
        while threads:
            threads.pop().join(timeout=smtp.timeout_s * 2)

    return wait

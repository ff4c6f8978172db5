"""Helpers of the role-page tests: a real SMTP sink (aiosmtpd on a free loopback port) and the reference card."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from portal_helpers import free_port

from dari.hub.settings import SmtpSettings


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


class SmtpSink:
    """Messages the sink received, and the hub settings that point at it."""

    def __init__(self, handler: _Collect, port: int) -> None:
        self._handler = handler
        self.settings = SmtpSettings(host="127.0.0.1", port=port, sender="hub@dari.example", starttls=False)

    @property
    def messages(self) -> list[EmailMessage]:
        """Everything received so far."""
        return self._handler.messages

    def wait_for(self, to: str, subject_has: str = "", timeout: float = 10.0) -> EmailMessage:
        """The first message to `to` whose subject holds `subject_has`, waiting for the hub's background delivery."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if message["To"] == to and subject_has in str(message["Subject"]):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no e-mail reached {to} in {timeout} s; got {[m['To'] for m in self.messages]}")


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback that keeps what it receives."""
    handler = _Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink(handler, port)
    finally:
        controller.stop()


def reference_card() -> tuple[str, dict[str, Any]]:
    """The reference model's CHAI card and the SHA-256 it pins."""
    from dari.models.reference import reference_model_paths

    path = reference_model_paths().card
    assert path is not None
    card = json.loads(path.read_text(encoding="utf-8"))
    return str(card["model_sha256"]), card

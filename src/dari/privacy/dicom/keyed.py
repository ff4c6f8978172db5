"""Keyed derivations: pseudonyms, UIDs and date offsets from HMAC-SHA256 with the site key.

Every value here is a pure function of (site key, original value), so runs with the same key agree
and nobody without the key can recompute or reverse them (an unkeyed hash of a patient ID could be
reversed by hashing every plausible ID).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

UID_ROOT = "2.25."
# A whole number of days keeps a date and its separate time of day consistent with each other.
MAX_SHIFT_DAYS = 3650


def _mac(key: bytes, purpose: bytes, value: str) -> bytes:
    # The purpose label separates the derivations, so a pseudonym never equals a UID's or an offset's MAC.
    return hmac.new(key, purpose + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()


def pseudonym(key: bytes, patient_id: str, prefix: str = "DARI") -> str:
    """A keyed pseudonym for a patient ID: prefix, a hyphen and 20 upper-case hex digits (80 bits)."""
    return f"{prefix}-{_mac(key, b'dari.dicom.patient', patient_id).hex()[:20].upper()}"


def remap_uid(key: bytes, uid: str) -> str:
    """A new UID under the 2.25. root (at most 44 characters) derived from the original UID with the key."""
    # 2.25. takes a 128-bit integer in decimal (ISO/IEC 9834-8); int() has no leading zeros, as UIDs require.
    number = int.from_bytes(_mac(key, b"dari.dicom.uid", uid.strip())[:16], "big")
    return f"{UID_ROOT}{number}"


def day_offset(key: bytes, patient_id: str) -> int:
    """A per-patient date shift in days, between -MAX_SHIFT_DAYS and -1 (always into the past)."""
    n = int.from_bytes(_mac(key, b"dari.dicom.date-offset", patient_id)[:8], "big")
    return -(1 + n % MAX_SHIFT_DAYS)


def shift_da(value: str, days: int) -> str | None:
    """Shift a DA value (YYYYMMDD, or legacy YYYY.MM.DD) by whole days; None when it is not a full date."""
    text = value.strip()
    if len(text) == 10 and text[4] == text[7] == ".":
        text = text.replace(".", "")  # the ACR-NEMA form YYYY.MM.DD, still found in old archives
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        shifted = date(int(text[:4]), int(text[4:6]), int(text[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"


def shift_dt(value: str, days: int) -> str | None:
    """Shift a DT value's date part by whole days, keeping time and UTC offset; None when no full date."""
    text = value.strip()
    head = shift_da(text[:8], days) if len(text) >= 8 else None
    return None if head is None else head + text[8:]

"""The adopting hospital's budget view: what using the AI tool costs the hospital, what it is paid, staff time.

Procurement decides adoption, so the dossier shows the hospital's own account next to the payer's: per year,
uses × (reimbursement − fee per use − staff minutes × wage / 60) − fixed costs (licence, IT integration, training).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dari.errors import InputError


class HospitalInputs(BaseModel):
    """`[hospital]`: yearly uses, the price paid per use, reimbursement per use, staff time and fixed costs (KRW)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""
    uses: list[float] = Field(min_length=1)  # patients analysed per year
    fee_per_use: float = Field(ge=0)  # paid to the vendor per analysis
    reimbursement_per_use: float = Field(ge=0)  # received from NHIS per analysis (0 until listed)
    staff_minutes_per_use: float = Field(0.0, ge=0)  # review of the AI output, follow-up calls
    staff_cost_per_hour: float = Field(0.0, ge=0)
    fixed_costs: list[float] = Field(default_factory=list)  # per year: licence, EMR/PACS integration, training
    source: str = ""

    @model_validator(mode="after")
    def _years(self) -> HospitalInputs:
        if self.fixed_costs and len(self.fixed_costs) != len(self.uses):
            raise ValueError("fixed_costs needs one entry per year of uses")
        if any(u < 0 for u in self.uses) or any(c < 0 for c in self.fixed_costs):
            raise ValueError("uses and fixed costs cannot be negative")
        return self


@dataclass(frozen=True)
class HospitalYear:
    """One year of the hospital's account (KRW)."""

    year: int
    uses: float
    fees: float
    reimbursement: float
    staff_hours: float
    staff_cost: float
    fixed: float

    @property
    def net(self) -> float:
        """Reimbursement − fees − staff cost − fixed costs (negative: the hospital pays)."""
        return self.reimbursement - self.fees - self.staff_cost - self.fixed


def hospital_view(h: HospitalInputs) -> list[HospitalYear]:
    """The yearly account."""
    out = []
    for i, uses in enumerate(h.uses):
        hours = uses * h.staff_minutes_per_use / 60
        out.append(
            HospitalYear(
                year=i + 1,
                uses=uses,
                fees=uses * h.fee_per_use,
                reimbursement=uses * h.reimbursement_per_use,
                staff_hours=hours,
                staff_cost=hours * h.staff_cost_per_hour,
                fixed=h.fixed_costs[i] if h.fixed_costs else 0.0,
            )
        )
    return out


def load_hospital(path: Path) -> HospitalInputs:
    """Read `[hospital]` from a TOML file; errors name the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(path)) from None
    try:
        return HospitalInputs.model_validate(raw.get("hospital", raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["hospital", *(str(p) for p in first["loc"])])
        raise InputError(first["msg"], file=str(path), column=where) from None

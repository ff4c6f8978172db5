"""Small synthetic site folders for the imaging tests: the source extract's patients, the synthetic marker."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dari.federation.flower.grants import SYNTHETIC_MARKER

SURNAMES = (("김", "KIM"), ("이", "LEE"), ("박", "PARK"), ("최", "CHOI"), ("정", "JUNG"))
GIVEN = (("민준", "MINJUN"), ("서연", "SEOYEON"), ("지호", "JIHO"), ("하은", "HAEUN"))


def make_site(folder: Path, n_patients: int = 60, *, encoding: str = "utf-8", date_format: str = "%Y-%m-%d") -> Path:
    """folder/extract/{manifest.json, patients.csv} as `dari synth` writes them (only what imaging reads)."""
    extract = folder / "extract"
    extract.mkdir(parents=True, exist_ok=True)
    sex_codes = {"남": "M", "여": "F"} if encoding == "cp949" else {"M": "M", "F": "F"}
    labels = list(sex_codes)
    manifest = {"site_id": folder.name, "encoding": encoding, "date_format": date_format, "sex_codes": sex_codes}
    (extract / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with (extract / "patients.csv").open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_no", "name", "name_en", "rrn", "sex", "birth_date"])
        for i in range(n_patients):
            (ko_s, en_s), (ko_g, en_g) = SURNAMES[i % 5], GIVEN[(i // 5) % 4]
            year, month = 1940 + i % 60, 1 + i % 12
            born = f"{year}-{month:02d}-15" if date_format == "%Y-%m-%d" else f"{year}{month:02d}15"
            writer.writerow([f"{50100000 + i}", ko_s + ko_g, f"{en_s} {en_g}", "", labels[i % 2], born])
    marker = folder / SYNTHETIC_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("synthetic\n", encoding="utf-8")
    return folder

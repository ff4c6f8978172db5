"""The airlock's automatic output checks: every rule fires on a crafted file and none on clean outputs (charts drawn
by matplotlib as a researcher would, tables as dari releases them)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dari.disclosure import DisclosureRules
from dari.pods.output_check import check_file, check_outputs
from dari.pods.output_rules import RULES

COHORT = 400


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """`png` with one more chunk just before IEND (the last 12 bytes)."""
    return png[:-12] + _chunk(kind, body) + png[-12:]


def _chart() -> bytes:
    pixels = np.full((120, 160, 3), 255, dtype=np.uint8)
    pixels[40:100, 20:50] = (31, 119, 180)
    pixels[60:100, 70:100] = (255, 127, 14)
    return _png(pixels)


def _rows_csv(n: int) -> str:
    return "age_band,value\n" + "".join(f"{20 + i % 50},{i * 0.37:.2f}\n" for i in range(n))


def _idat_padded() -> bytes:
    """A PNG whose IDAT inflates to more bytes than its 8x8 pixels: data riding inside the pixel stream."""
    raw = b"".join(b"\x00" + b"\xff" * 24 for _ in range(8)) + b"SMUGGLED ROWS" * 40
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


CRAFTED: dict[str, tuple[str, Callable[[], bytes]]] = {
    "file_type": ("model.pkl", lambda: b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94."),
    "type_mismatch": ("table.csv", _chart),
    "small_cell": ("counts.csv", lambda: b"sex,n_patients\nF,120\nM,3\n"),
    "small_cell_maybe": ("crosstab.csv", lambda: b"stage,male,female\nI,40,35\nII,15,4\n"),
    "row_level": ("cohort.csv", lambda: _rows_csv(COHORT).encode()),
    "identifier_column": ("ids.csv", lambda: b"person_id,hba1c_band\n" + b"".join(b"%d,high\n" % i for i in range(30))),
    "identifier_value": ("notes.txt", lambda: "환자 연락처 010-1234-5678 확인\n".encode()),
    "day_date": ("visits.csv", lambda: b"visit_date,mean_sbp\n2024-03-01,131.2\n2024-03-02,128.9\n"),
    "wide_table": ("wide.csv", lambda: (",".join(f"p{i}" for i in range(80)) + "\n" + ",".join("1" * 80)).encode()),
    "png_chunk": ("plot.png", lambda: _with_chunk(_chart(), b"ruSt", b"row data " * 50)),
    "png_trailing": ("plot2.png", lambda: _chart() + b"person_id,dob\n1,1961-02-03\n"),
    "png_pixels": ("plot3.png", _idat_padded),
    "image_dense": ("noise.png", lambda: _png(np.random.default_rng(7).integers(0, 256, (160, 160, 3), np.uint8))),
    "svg_script": ("chart.svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("x")</script></svg>'),
    "svg_embedded": (
        "chart2.svg",
        lambda: (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
            b'<image xlink:href="data:image/png;base64,AAAA"/></svg>'
        ),
    ),
    "html_script": ("report.html", lambda: b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"),
    "html_data_uri": ("report2.html", lambda: b'<html><body><a href="data:text/csv;base64,cm93">x</a></body></html>'),
    "check_error": ("broken.svg", lambda: b"<svg><g></svg>"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_airlock_check_rule_fires_on_crafted_file(rule: str, tmp_path: Path) -> None:
    # Prepare
    name, make = CRAFTED[rule]
    path = tmp_path / name
    path.write_bytes(make())
    # Execute
    report = check_file(path, name, rules=DisclosureRules(), cohort_size=COHORT)
    # Assert
    fired = {f.rule for f in report.findings}
    assert rule in fired, (rule, fired)
    finding = next(f for f in report.findings if f.rule == rule)
    assert finding.file == name and finding.message_ko and finding.message_en
    assert report.blocked == any(f.severity == "block" for f in report.findings)


def test_airlock_check_findings_name_row_and_column(tmp_path: Path) -> None:
    # Prepare
    (tmp_path / "counts.csv").write_bytes(b"sex,n_patients\nF,120\nM,3\n")
    # Execute
    (finding,) = check_file(tmp_path / "counts.csv", "counts.csv").findings
    # Assert: the small cell is on line 3 of the file, in column n_patients; its value is not repeated
    assert (finding.rule, finding.row, finding.column) == ("small_cell", 3, "n_patients")
    assert "3" not in finding.detail.replace("10", "")


def test_airlock_check_floor_comes_from_site_rules(tmp_path: Path) -> None:
    # Prepare: 12 persons pass the default floor 10 and fail a site floor of 20
    (tmp_path / "counts.csv").write_bytes(b"sex,n\nF,120\nM,12\n")
    # Execute
    default = check_file(tmp_path / "counts.csv", "counts.csv")
    strict = check_file(tmp_path / "counts.csv", "counts.csv", rules=DisclosureRules(min_cell=20))
    # Assert
    assert not default.findings
    assert [f.rule for f in strict.findings] == ["small_cell"]


def test_airlock_check_clean_outputs_pass(tmp_path: Path) -> None:
    # Prepare: what a well-behaved analysis writes (matplotlib charts, protected tables, a report)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["40-49", "50-59", "60-69"], [35, 120, 85])
    ax.set_title("HbA1c ≥ 6.5 % by age band")
    fig.savefig(tmp_path / "bars.png", dpi=80)
    fig.savefig(tmp_path / "bars.svg")
    plt.close(fig)
    (tmp_path / "table1.csv").write_text("age_band,sex,n_persons,mean_hba1c\n40-49,F,35,6.9\n50-59,M,120,7.2\n")
    (tmp_path / "summary.md").write_text("# 결과\n\n| group | persons |\n|---|---|\n| all | 240 |\n| <10 | <10 |\n")
    (tmp_path / "log.txt").write_text("fitted model in 12 iterations\nAUC 0.81 (0.77-0.85)\n")
    (tmp_path / "report.html").write_text(
        "<!doctype html><html><body><h1>Report</h1><table><tr><th>month</th><th>events</th></tr>"
        "<tr><td>2024-03</td><td>45</td></tr></table></body></html>"
    )
    # Execute
    report = check_outputs(tmp_path, rules=DisclosureRules(), cohort_size=COHORT)
    # Assert
    assert {f.name: f.kind for f in report.files} == {
        "bars.png": "png",
        "bars.svg": "svg",
        "log.txt": "txt",
        "report.html": "html",
        "summary.md": "md",
        "table1.csv": "csv",
    }
    assert report.findings == []
    assert len(report.releasable()) == 6
    assert all(len(f.sha256) == 64 and f.size > 0 for f in report.files)


def test_airlock_check_findings_capped_without_losing_a_block(tmp_path: Path) -> None:
    # Prepare: 1,000 identifier-named columns of small values
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"person_id_{i}" for i in range(1000)) + "\n" + ",".join("3" for _ in range(1000)) + "\n")
    # Execute
    report = check_file(path, "wide.csv")
    # Assert
    rules = {f.rule for f in report.findings}
    assert len(report.findings) <= 100 + len(RULES) and report.blocked
    assert {"wide_table", "identifier_column", "small_cell_maybe"} <= rules

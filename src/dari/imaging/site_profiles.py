"""The imaging equipment of each synthetic hospital: the scanner differences real networks have.

Each site has two radiography units and one CT scanner. They differ in manufacturer, pixel spacing, bit depth,
photometric interpretation (MONOCHROME1 stores bright as low values, as Fujifilm/Konica CR/DR often send),
detector blur and noise, tone curve, the lesion contrast its beam gives, and the transfer syntax its PACS
receives (explicit VR little endian, RLE lossless, JPEG 2000 lossless, JPEG baseline lossy 8-bit).
Pixel spacings are 1.0–2.0 mm over a 400 mm field (real detectors: 0.1–0.2 mm): images of 200–400 pixels keep a
3 × 500-study validation inside CI time; the model's spec resamples whatever it receives.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, RLELossless


@dataclass(frozen=True)
class Scanner:
    """One imaging unit of a site and how it writes its images."""

    key: str
    modality: str  # DX, CR or CT
    manufacturer: str
    model: str
    spacing_mm: float
    bits: int
    photometric: str  # MONOCHROME1 or MONOCHROME2
    transfer_syntax: UID
    blur_mm: float = 0.8
    noise: float = 0.015
    gamma: float = 1.0
    lesion_contrast: float = 1.0  # scales every lesion's contrast (beam quality, detector response)
    share: float = 0.45  # of the site's studies


@dataclass(frozen=True)
class ImagingSite:
    """A site's imaging: its units and the share of studies with a lesion and with burned-in text."""

    site_id: str
    institution: str
    station_prefix: str
    scanners: tuple[Scanner, ...]
    prevalence: float = 0.3
    burned_in_share: float = 0.15


SITES: dict[str, ImagingSite] = {
    "site-1": ImagingSite(
        "site-1",
        "Seoul Hanbit University Hospital",
        "HANBIT",
        (
            Scanner("s1-dx-a", "DX", "Samsung Electronics", "GC85A", 1.0, 12, "MONOCHROME2", ExplicitVRLittleEndian),
            Scanner(
                "s1-dx-b", "DX", "Siemens Healthineers", "Ysio Max", 1.25, 12, "MONOCHROME2", RLELossless, 1.0, 0.02
            ),
            Scanner(
                "s1-ct", "CT", "Siemens Healthineers", "SOMATOM Force", 1.5, 12, "MONOCHROME2", JPEG2000Lossless,
                share=0.1,
            ),
        ),
    ),
    "site-2": ImagingSite(
        "site-2",
        "Busan Bada Medical Center",
        "BADA",
        (
            Scanner(
                "s2-cr", "CR", "FUJIFILM Corporation", "FCR Velocity", 1.6, 10, "MONOCHROME1", JPEG2000Lossless,
                1.3, 0.03, 0.8, 0.85,
            ),
            Scanner(
                "s2-dx", "DX", "GE Healthcare", "Definium 656", 1.0, 14, "MONOCHROME2", ExplicitVRLittleEndian,
                0.7, 0.012, 1.1, 0.95,
            ),
            Scanner("s2-ct", "CT", "GE Healthcare", "Revolution CT", 1.5, 12, "MONOCHROME2", RLELossless, share=0.1),
        ),
        prevalence=0.35,
    ),
    "site-3": ImagingSite(
        "site-3",
        "Gwangju Bitgoeul Hospital",
        "BITGOEUL",
        (
            Scanner(
                "s3-dx-a", "DX", "Carestream Health", "DRX-Evolution", 2.0, 8, "MONOCHROME2", JPEGBaseline8Bit,
                1.0, 0.025, 1.25, 0.8,
            ),
            Scanner(
                "s3-dx-b", "DX", "Konica Minolta", "AeroDR", 1.6, 12, "MONOCHROME1", ExplicitVRLittleEndian,
                0.9, 0.02, 0.9, 0.9,
            ),
            Scanner(
                "s3-ct", "CT", "Canon Medical Systems", "Aquilion Prime", 1.5, 12, "MONOCHROME2",
                ExplicitVRLittleEndian, share=0.1,
            ),
        ),
        prevalence=0.25,
        burned_in_share=0.25,
    ),
}  # fmt: skip


def imaging_site(site_id: str) -> ImagingSite:
    """The imaging profile of `site_id`; sites beyond the three reuse them in turn under their own id."""
    if site_id in SITES:
        return SITES[site_id]
    try:
        number = int(site_id.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        raise ValueError(f"site id must look like 'site-N', got {site_id!r}") from None
    base = SITES[f"site-{(number - 1) % 3 + 1}"]
    return ImagingSite(site_id, base.institution, base.station_prefix, base.scanners, base.prevalence)

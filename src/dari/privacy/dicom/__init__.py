"""DICOM de-identification per DICOM PS3.15 Annex E (Basic Profile, Modified Dates, Clean Descriptors options)."""

from dari.privacy.dicom.deid import DeidReport, TextCleaner, deidentify_dataset
from dari.privacy.dicom.files import TreeReport, deidentify_file, deidentify_tree, read_dicom
from dari.privacy.dicom.keyfile import read_key_file

__all__ = [
    "DeidReport",
    "TextCleaner",
    "TreeReport",
    "deidentify_dataset",
    "deidentify_file",
    "deidentify_tree",
    "read_dicom",
    "read_key_file",
]

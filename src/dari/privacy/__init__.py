"""Privacy at the site: pseudonymisation, de-identification (text, DICOM), re-identification risk, linkage."""

"""Imaging: the site's PACS (Orthanc, DICOMweb, DIMSE), synthetic studies, federated imaging validation."""

"""ETL of a hospital's source EMR extract into the OMOP CDM, with a seam for pseudonymisation."""

"""SQL that turns the raw extract tables into OMOP CDM v5.4 rows, inside DuckDB (no Python row loops).

Dates are parsed with the manifest's format and shifted by the pseudonymiser's per-person offset; source codes
map to standard concepts through the vocabulary already loaded into the same database.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from dari.cdm.schema import cdm_tables, quote_ident
from dari.etl.manifest import ExtractManifest

# Unit strings as laboratory systems print them, to UCUM codes as the vocabulary holds them.
UNIT_ALIASES = {"mL/min/1.73m2": "mL/min/{1.73_m2}", "mmHg": "mm[Hg]", "µmol/L": "umol/L"}
PROCEDURE_VOCABULARIES = ("EDI", "dari-local", "SNOMED")


def _date(expr: str, fmt: str) -> str:
    return f"CAST(STRPTIME({expr}, '{fmt}') AS DATE) + m.shift_days"


def _ts(expr: str, fmt: str) -> str:
    return f"STRPTIME({expr}, '{fmt}') + to_days(m.shift_days)"


def _insert(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    cols = ", ".join(quote_ident(c) for c in cdm_tables()[table].column_names)
    con.execute(f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM ({select_sql})")


def _concept(vocabulary: str, code: str) -> str:
    return f"(SELECT concept_id FROM concept WHERE vocabulary_id = '{vocabulary}' AND concept_code = '{code}')"


def build_lookups(con: duckdb.DuckDBPyConnection, manifest: ExtractManifest) -> None:
    """Code look-up tables: source code → (source concept, standard concept), per kind of code."""
    con.execute("""
        CREATE TEMP TABLE maps_to AS
        SELECT cr.concept_id_1 AS source_id, min(cr.concept_id_2) AS target_id
        FROM concept_relationship cr WHERE cr.relationship_id = 'Maps to' GROUP BY cr.concept_id_1""")
    con.execute("""
        CREATE TEMP TABLE code_map AS
        SELECT c.vocabulary_id, upper(replace(c.concept_code, '.', '')) AS code, c.concept_id AS source_id,
               coalesce(m.target_id, CASE WHEN c.standard_concept = 'S' THEN c.concept_id END, 0) AS target_id
        FROM concept c LEFT JOIN maps_to m ON m.source_id = c.concept_id""")
    # Value maps come from the hospital's manifest: bound as data, never spliced into SQL text.
    for name, mapping, value_col in (
        ("sex_codes", manifest.sex_codes, "code"),
        ("visit_codes", manifest.visit_types, "code"),
        ("unit_alias", UNIT_ALIASES, "ucum"),
    ):
        table = pa.table({"raw": list(mapping), value_col: list(mapping.values())})
        con.register("_lookup", table)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM _lookup")
        con.unregister("_lookup")


def transform(con: duckdb.DuckDBPyConnection, manifest: ExtractManifest) -> None:
    """Fill the CDM tables from `src_*`, `person_map` and `note_clean` in the same database."""
    d, dt = manifest.date_format, manifest.datetime_format
    ehr = _concept("Type Concept", "EHR")
    build_lookups(con, manifest)
    con.execute("""
        CREATE TEMP TABLE person_ids AS
        SELECT row_number() OVER (ORDER BY coalesce(m.person_source_value, p.patient_no)) AS person_id,
               p.patient_no, m.person_source_value, m.shift_days, m.birth_precision,
               m.location_state, m.location_county, m.location_zip
        FROM src_patients p JOIN person_map m USING (patient_no)""")
    # Generalised places only (시/도, 시/군/구, postcode prefix), as the pseudonymiser left them.
    con.execute("""
        CREATE TEMP TABLE locations AS
        SELECT row_number() OVER (ORDER BY location_state, location_county, location_zip) AS location_id, *
        FROM (SELECT DISTINCT location_state, location_county, location_zip FROM person_ids
              WHERE coalesce(location_state, location_county, location_zip) IS NOT NULL)""")
    _insert(
        con,
        "location",
        """
        SELECT location_id, NULL AS address_1, NULL AS address_2, location_county AS city, NULL AS state,
               location_zip AS zip, location_state AS county,
               concat_ws(' ', location_state, location_county) AS location_source_value,
               NULL AS country_concept_id, 'KR' AS country_source_value, NULL AS latitude, NULL AS longitude
        FROM locations""",
    )
    _insert(
        con,
        "person",
        f"""
        SELECT m.person_id, coalesce(g.concept_id, 0) AS gender_concept_id,
               year({_date("p.birth_date", d)}) AS year_of_birth,
               CASE WHEN m.birth_precision IN ('day', 'month') THEN month({_date("p.birth_date", d)}) END
                   AS month_of_birth,
               CASE WHEN m.birth_precision = 'day' THEN day({_date("p.birth_date", d)}) END AS day_of_birth,
               CAST(NULL AS TIMESTAMP) AS birth_datetime,
               0 AS race_concept_id, 0 AS ethnicity_concept_id, l.location_id, NULL AS provider_id,
               NULL AS care_site_id, m.person_source_value, p.sex AS gender_source_value,
               0 AS gender_source_concept_id, NULL AS race_source_value, NULL AS race_source_concept_id,
               NULL AS ethnicity_source_value, NULL AS ethnicity_source_concept_id
        FROM src_patients p JOIN person_ids m USING (patient_no)
        LEFT JOIN locations l ON l.location_state IS NOT DISTINCT FROM m.location_state
             AND l.location_county IS NOT DISTINCT FROM m.location_county
             AND l.location_zip IS NOT DISTINCT FROM m.location_zip
        LEFT JOIN sex_codes s ON s.raw = p.sex
        LEFT JOIN concept g ON g.vocabulary_id = 'Gender' AND g.concept_code = s.code""",
    )
    con.execute("""
        CREATE TEMP TABLE care_sites AS
        SELECT row_number() OVER (ORDER BY department) AS care_site_id, department
        FROM (SELECT DISTINCT department FROM src_visits WHERE department IS NOT NULL)""")
    _insert(
        con,
        "care_site",
        """
        SELECT care_site_id, department AS care_site_name, NULL AS place_of_service_concept_id,
               NULL AS location_id, department AS care_site_source_value,
               NULL AS place_of_service_source_value FROM care_sites""",
    )
    _insert(
        con,
        "visit_occurrence",
        f"""
        SELECT CAST(v.visit_no AS BIGINT) AS visit_occurrence_id, m.person_id,
               coalesce(c.concept_id, 0) AS visit_concept_id,
               {_date("v.admit_date", d)} AS visit_start_date, NULL AS visit_start_datetime,
               coalesce({_date("v.discharge_date", d)}, {_date("v.admit_date", d)}) AS visit_end_date,
               NULL AS visit_end_datetime, {ehr} AS visit_type_concept_id, NULL AS provider_id,
               cs.care_site_id, v.visit_type AS visit_source_value, 0 AS visit_source_concept_id,
               NULL AS admitted_from_concept_id, NULL AS admitted_from_source_value,
               NULL AS discharged_to_concept_id, NULL AS discharged_to_source_value,
               NULL AS preceding_visit_occurrence_id
        FROM src_visits v JOIN person_ids m USING (patient_no)
        LEFT JOIN visit_codes vc ON vc.raw = v.visit_type
        LEFT JOIN concept c ON c.vocabulary_id = 'Visit' AND c.concept_code = vc.code
        LEFT JOIN care_sites cs USING (department)""",
    )
    _insert(
        con,
        "condition_occurrence",
        f"""
        SELECT CAST(x.diagnosis_no AS BIGINT) AS condition_occurrence_id, m.person_id,
               coalesce(cm.target_id, 0) AS condition_concept_id,
               {_date("x.diagnosis_date", d)} AS condition_start_date, NULL AS condition_start_datetime,
               NULL AS condition_end_date, NULL AS condition_end_datetime, {ehr} AS condition_type_concept_id,
               NULL AS condition_status_concept_id, NULL AS stop_reason, NULL AS provider_id,
               CAST(x.visit_no AS BIGINT) AS visit_occurrence_id, NULL AS visit_detail_id,
               x.kcd_code AS condition_source_value, coalesce(cm.source_id, 0) AS condition_source_concept_id,
               CASE x.primary_yn WHEN 'Y' THEN 'primary' WHEN 'N' THEN 'secondary' END
                   AS condition_status_source_value
        FROM src_diagnoses x JOIN person_ids m USING (patient_no)
        LEFT JOIN code_map cm ON cm.vocabulary_id = 'KCD8' AND cm.code = upper(replace(trim(x.kcd_code), '.', ''))""",
    )
    _insert(
        con,
        "drug_exposure",
        f"""
        SELECT CAST(x.order_no AS BIGINT) AS drug_exposure_id, m.person_id,
               coalesce(cm.target_id, 0) AS drug_concept_id,
               {_date("x.order_date", d)} AS drug_exposure_start_date, NULL AS drug_exposure_start_datetime,
               {_date("x.order_date", d)} + greatest(coalesce(CAST(x.days_supply AS INTEGER), 1), 1) - 1
                   AS drug_exposure_end_date,
               NULL AS drug_exposure_end_datetime, NULL AS verbatim_end_date, {ehr} AS drug_type_concept_id,
               NULL AS stop_reason, NULL AS refills, NULL AS quantity, CAST(x.days_supply AS INTEGER) AS days_supply,
               NULL AS sig, NULL AS route_concept_id, NULL AS lot_number, NULL AS provider_id,
               CAST(x.visit_no AS BIGINT) AS visit_occurrence_id, NULL AS visit_detail_id,
               x.drug_code AS drug_source_value, coalesce(cm.source_id, 0) AS drug_source_concept_id,
               x.route AS route_source_value, NULL AS dose_unit_source_value
        FROM src_prescriptions x JOIN person_ids m USING (patient_no)
        LEFT JOIN code_map cm ON cm.vocabulary_id = 'ATC' AND cm.code = upper(replace(trim(x.drug_code), '.', ''))""",
    )
    _insert(
        con,
        "measurement",
        f"""
        SELECT CAST(x.result_no AS BIGINT) AS measurement_id, m.person_id,
               coalesce(cm.target_id, 0) AS measurement_concept_id,
               CAST({_ts("x.collected_at", dt)} AS DATE) AS measurement_date,
               {_ts("x.collected_at", dt)} AS measurement_datetime, NULL AS measurement_time,
               {ehr} AS measurement_type_concept_id, NULL AS operator_concept_id,
               TRY_CAST(x.result_value AS DOUBLE) AS value_as_number, NULL AS value_as_concept_id,
               coalesce(u.concept_id, 0) AS unit_concept_id, TRY_CAST(x.ref_low AS DOUBLE) AS range_low,
               TRY_CAST(x.ref_high AS DOUBLE) AS range_high, NULL AS provider_id,
               CAST(x.visit_no AS BIGINT) AS visit_occurrence_id, NULL AS visit_detail_id,
               x.lab_code AS measurement_source_value, coalesce(cm.source_id, 0) AS measurement_source_concept_id,
               x.unit AS unit_source_value, NULL AS unit_source_concept_id, x.result_value AS value_source_value,
               NULL AS measurement_event_id, NULL AS meas_event_field_concept_id
        FROM src_lab_results x JOIN person_ids m USING (patient_no)
        LEFT JOIN src_lab_codes lc USING (lab_code)
        LEFT JOIN code_map cm ON cm.vocabulary_id = 'LOINC' AND cm.code = upper(lc.loinc)
        LEFT JOIN unit_alias ua ON ua.raw = x.unit
        LEFT JOIN concept u ON u.vocabulary_id = 'UCUM' AND u.concept_code = coalesce(ua.ucum, x.unit)""",
    )
    proc_vocabs = ", ".join(f"'{v}'" for v in PROCEDURE_VOCABULARIES)
    _insert(
        con,
        "procedure_occurrence",
        f"""
        SELECT CAST(x.procedure_no AS BIGINT) AS procedure_occurrence_id, m.person_id,
               coalesce(cm.target_id, 0) AS procedure_concept_id,
               {_date("x.procedure_date", d)} AS procedure_date, NULL AS procedure_datetime,
               NULL AS procedure_end_date, NULL AS procedure_end_datetime, {ehr} AS procedure_type_concept_id,
               NULL AS modifier_concept_id, 1 AS quantity, NULL AS provider_id,
               CAST(x.visit_no AS BIGINT) AS visit_occurrence_id, NULL AS visit_detail_id,
               x.procedure_code AS procedure_source_value, coalesce(cm.source_id, 0) AS procedure_source_concept_id,
               NULL AS modifier_source_value
        FROM src_procedures x JOIN person_ids m USING (patient_no)
        LEFT JOIN (SELECT code, min(source_id) AS source_id, min(target_id) AS target_id FROM code_map
                   WHERE vocabulary_id IN ({proc_vocabs}) GROUP BY code) cm
               ON cm.code = upper(replace(trim(x.procedure_code), '.', ''))""",
    )
    _insert(
        con,
        "note",
        f"""
        SELECT CAST(x.note_no AS BIGINT) AS note_id, m.person_id,
               CAST({_ts("x.written_at", dt)} AS DATE) AS note_date, {_ts("x.written_at", dt)} AS note_datetime,
               {ehr} AS note_type_concept_id,
               coalesce(CASE WHEN x.note_type = '퇴원요약' THEN {_concept("LOINC", "18842-5")}
                             ELSE {_concept("LOINC", "11506-3")} END, 0) AS note_class_concept_id,
               x.note_type AS note_title, n.note_text,
               coalesce({_concept("dari-local", "UTF-8")}, 0) AS encoding_concept_id,
               coalesce({_concept("dari-local", "ko")}, 0) AS language_concept_id, NULL AS provider_id,
               CAST(x.visit_no AS BIGINT) AS visit_occurrence_id, NULL AS visit_detail_id,
               x.note_type AS note_source_value, NULL AS note_event_id, NULL AS note_event_field_concept_id
        FROM src_clinical_notes x JOIN person_ids m USING (patient_no) JOIN note_clean n USING (note_no)""",
    )
    _insert(
        con,
        "death",
        f"""
        SELECT m.person_id, {_date("p.death_date", d)} AS death_date, NULL AS death_datetime,
               {ehr} AS death_type_concept_id, NULL AS cause_concept_id, NULL AS cause_source_value,
               NULL AS cause_source_concept_id
        FROM src_patients p JOIN person_ids m USING (patient_no) WHERE p.death_date IS NOT NULL""",
    )
    _insert(
        con,
        "observation_period",
        f"""
        SELECT row_number() OVER (ORDER BY person_id) AS observation_period_id, person_id,
               min(visit_start_date) AS observation_period_start_date,
               max(visit_end_date) AS observation_period_end_date, {ehr} AS period_type_concept_id
        FROM visit_occurrence GROUP BY person_id""",
    )

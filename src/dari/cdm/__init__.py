"""OMOP CDM v5.4: schema, stores (DuckDB, PostgreSQL) and loading."""

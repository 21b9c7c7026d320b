"""Getting raw exports: importers from PSA / help-desk tools (`importers/`) and the sample
generator (`sample/`). Both write the canonical raw tables that `clean` reads."""

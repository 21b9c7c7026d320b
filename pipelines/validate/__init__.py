"""Validate: the per-client data-quality gate (Great Expectations suites) and the data-health
content shown to people."""

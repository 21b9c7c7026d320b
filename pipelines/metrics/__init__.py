"""Metrics: the per-ticket SLA clock, the client x month KPIs, traceability and the methodology."""

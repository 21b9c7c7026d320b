"""The batch: lock, fingerprints, worker processes with warm kernels, papermill execution,
outcomes. It drives every stage, so it sits above them all (only the CLI imports it)."""

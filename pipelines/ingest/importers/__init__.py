"""Importers: PSA / help-desk exports in, the canonical raw tables out (`servicereview import`).

A preset (YAML, `presets/*.yml`, or a user's own file) maps an export's columns
and values to the canonical fields; the generic engine applies it. See
README.md in this folder for the preset format.
"""

from pipelines.ingest.importers.mapping import (
    ClientMap,
    MappingError,
    Preset,
    available_presets,
    load_client_map,
    load_preset,
)
from pipelines.ingest.importers.run import (
    ImportResult,
    NothingImported,
    import_files,
    import_frames,
    read_export,
)

__all__ = [
    "ClientMap",
    "ImportResult",
    "MappingError",
    "NothingImported",
    "Preset",
    "available_presets",
    "import_files",
    "import_frames",
    "load_client_map",
    "load_preset",
    "read_export",
]

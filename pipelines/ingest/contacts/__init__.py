"""Contact importers: what a client keeps of its own calls and emails -> the `contacts` table.

`servicereview import-contacts` (see `run.import_contacts`) reads a phone system's call detail
records through a preset (`presets/*.yml`), sent mail exported as CSV, or an `.mbox` mailbox
(headers only), keeps the contacts with the provider and merges them into `contacts.csv`.
They are separate from the PSA importers (`pipelines.ingest.importers`): a different owner (the
client, not the provider) and different sources.
"""

from pipelines.ingest.contacts.readers import ContactImportError, available_presets
from pipelines.ingest.contacts.run import MBOX, import_contacts

__all__ = ["MBOX", "ContactImportError", "available_presets", "import_contacts"]

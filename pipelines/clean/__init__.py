"""Clean: raw exports in, clean tables and a rejects table out (every row accounted for)."""

"""What a notebook calls: the report context, its sections, charts and words."""

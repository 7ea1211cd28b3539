"""Presentation layer: results tables -> rows per step (`aggregate`), seed statistics (`stats`),
figures (`figure`, drawing only) and Markdown/CSV reports (`report`, no matplotlib)."""

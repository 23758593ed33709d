"""The Excel pack: sheet layout, cell formats, and the bulk-written Individuals rows."""

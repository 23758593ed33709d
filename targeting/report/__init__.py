"""Writers: atomic outputs, the PDF brief (templates, charts) and the Excel pack."""

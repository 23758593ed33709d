"""The ReportModel contract, findings, and the words a reader sees."""

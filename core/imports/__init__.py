"""Importing data from files: reading and diagnosing them, shared by every importer."""

from kith.core.imports.csv_file import CsvProblem, CsvRow, CsvTable, column_name, read_csv

__all__ = ["CsvProblem", "CsvRow", "CsvTable", "column_name", "read_csv"]

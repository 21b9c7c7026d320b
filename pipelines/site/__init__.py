"""Publish: executed notebooks -> the internal website and one bundle per client (built-in
renderer or Quarto), with PDFs."""

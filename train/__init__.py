"""See the package docstring of mouseact (common/__init__.py)."""

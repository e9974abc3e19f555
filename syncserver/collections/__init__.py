"""Declared collections (--collections FILE): schemas, roles and app versions per collection.

declared.py reads and checks the file; schema.py validates a record's data against a
collection's JSON Schema.

May import: model.
"""

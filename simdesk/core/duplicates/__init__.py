"""Duplicates: the duplicate descriptors, the scan and its groups, the Trash and its journal."""

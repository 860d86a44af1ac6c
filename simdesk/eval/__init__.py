"""Evaluation, outside the product core: retrieval quality, duplicate quality, edited-copy sets."""

"""The headless engine of simdesk. Nothing under this package may import Qt."""

"""Example bots: run one with ``python -m runtime chat runtime/examples/<name>.py``."""

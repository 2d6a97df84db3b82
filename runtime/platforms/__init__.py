"""Platforms: the ways users reach sessions (only through the Runtime facade)."""

"""Shipped presets (TOML), installed as package data."""

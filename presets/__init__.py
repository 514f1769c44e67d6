"""Shipped remix presets (*.toml), installed as package data; tuss_fx.presets reads them."""

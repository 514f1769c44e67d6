"""Shipped remix presets (*.toml), installed as package data; tuss_fx.mix.presets reads them."""

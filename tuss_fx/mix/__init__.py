"""Mixing: TOML presets (presets), pedalboard effect chains (effects), MIDI fader automation
(automation), the remix of a file (remix) and of a film's audio track (film).

Floor 6: may import everything below it (errors, measure, media, report, model, separation),
never plugin, batch, train or cli.
"""

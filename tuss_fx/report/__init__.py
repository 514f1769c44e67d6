"""What a job did and whether it can be delivered: the JSON/PNG/HTML report of a remix or
separation (recorder, drawn by plot), the report of an existing stem folder (folder), delivery
loudness specs and their checks (delivery).

Floor 4: may import tuss_fx.errors, measure, media and, to find a programme's dialogue, deepfilternet.
"""

"""A preset tuned by ear, as TOML: the loaded preset's own text with the new gains written into it.

tomlkit edits the document in place, so the saved file keeps the preset's comments, chains, ride and
master section word for word and a diff against the original shows the gains alone.
"""

from __future__ import annotations

import math

import tomlkit

from tuss_fx.mix.plan import BACKGROUND, RemixPlan


def tuned_preset_text(text: str, name: str, plan: RemixPlan, gains_db: dict[str, float], programme: str) -> str:
    """`text` (a preset's TOML) renamed `name`, with each source of `plan` at gains_db[source] (-inf: muted).

    Under the dialogue plan the background's gain goes to [background], which is what that plan plays; a
    stem's gain to [stems.<stem>] (the residual included), created where the preset had none.
    """
    document = tomlkit.parse(text)
    document["name"] = name
    for source, gain_db in gains_db.items():
        if source == BACKGROUND and plan.preset.residual_name == BACKGROUND:
            table = _table(document, "background")
        else:
            table = _table(_table(document, "stems"), source)
        table["gain_db"] = round(gain_db, 2) if math.isfinite(gain_db) else -math.inf
    header = f"# {_one_line(name)}: tuned by ear in `tuss-fx audition` on {_one_line(programme)} ({plan.name} plan)\n"
    return header + tomlkit.dumps(document)


def _one_line(text: str) -> str:
    """`text` safe inside a TOML comment: a file name may hold a newline (legal on Linux and macOS), which
    would end the comment and write its remainder as keys; every unprintable character is escaped."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def _table(parent, key: str):
    if key not in parent:
        parent[key] = tomlkit.table(is_super_table=key == "stems")
    return parent[key]

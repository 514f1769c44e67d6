"""TOML remix presets: schema, validation with errors that name the file and the key, overrides."""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import pedalboard

from tuss_fx.errors import TussFxError
from tuss_fx.mix.effects import FILE_PARAMS, build_plugin, effect_names
from tuss_fx.mix.ride import RideSettings
from tuss_fx.separation.dialogue import ENGINES
from tuss_fx.separation.separator import RESIDUAL, source_names, stem_names

DEFAULT_CEILING_DB = -1.0
_TOP_KEYS = {"name", "description", "prompts", "dialogue_engine", "plan", "stems", "background", "ride", "master"}
_RIDE_KEYS = {field.name for field in fields(RideSettings)}
_STEM_KEYS = {"gain_db", "chain"}
_MASTER_KEYS = {"chain", "target_lufs", "ceiling_db", "loudness_gate"}
# what master.target_lufs is measured on: the whole programme (BS.1770), or its dialogue (dialogue-gated)
LOUDNESS_GATES = ("integrated", "dialogue")
# how a remix runs (tuss_fx.mix.plan): as measured for the model, every stem, or dialogue + one background
PLANS = ("auto", "stems", "dialogue")


class PresetError(TussFxError):
    """A preset that cannot be used; names the file and the dotted key."""


@dataclass(frozen=True)
class EffectSpec:
    """One chain entry: a pedalboard class name and its constructor arguments."""

    plugin: str
    params: dict[str, Any]

    def build(self) -> pedalboard.Plugin:
        return build_plugin(self.plugin, self.params)


@dataclass(frozen=True)
class StemSettings:
    gain_db: float = 0.0
    chain: tuple[EffectSpec, ...] = ()

    def board(self) -> pedalboard.Pedalboard:
        return pedalboard.Pedalboard([spec.build() for spec in self.chain])


@dataclass(frozen=True)
class Preset:
    """A validated preset. Stems not listed play at 0 dB with no chain; so does the residual."""

    name: str
    prompts: tuple[str, ...]
    source: str
    description: str = ""
    stems: dict[str, StemSettings] = field(default_factory=dict)
    master_chain: tuple[EffectSpec, ...] = ()
    target_lufs: float | None = None
    ceiling_db: float = DEFAULT_CEILING_DB
    dialogue_engine: str | None = None  # auto, tuss or deepfilternet; None: the command's choice (auto)
    loudness_gate: str = "integrated"  # LOUDNESS_GATES: target_lufs is integrated or dialogue-gated loudness
    plan: str = "auto"  # PLANS
    # [background]: the non-dialogue stems and the residual as one, when the dialogue plan runs;
    # None: a gain derived from the stems' (tuss_fx.mix.plan.background_settings)
    background: StemSettings | None = None
    residual_name: str = RESIDUAL  # what the last source (mixture - Σ stems) is called in files and reports
    ride: RideSettings | None = None  # [ride]: the background ridden under buried dialogue (tuss_fx.mix.ride)

    @property
    def stem_names(self) -> list[str]:
        return stem_names(self.prompts)

    @property
    def source_names(self) -> list[str]:
        """The stems and then the residual (named residual_name): every source the remix mixes."""
        return [*self.stem_names, self.residual_name]

    def stem(self, name: str) -> StemSettings:
        return self.stems.get(name, StemSettings())

    def master_board(self) -> pedalboard.Pedalboard:
        return pedalboard.Pedalboard([spec.build() for spec in self.master_chain])

    def check_prompts(self, known: Sequence[str]) -> None:
        """Raise PresetError naming `prompts[i]` when the model lacks a prompt."""
        for index, prompt in enumerate(self.prompts):
            if prompt not in known:
                raise PresetError(self.source, f"prompts[{index}]: {prompt!r} is not a prompt of this model "
                                               f"({', '.join(known)})")


def builtin_names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("tuss_fx.builtin_presets").iterdir()
                  if p.name.endswith(".toml"))


def load_preset(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Preset:
    """A shipped preset by name, or a .toml file; `overrides` are "dotted.key=value" strings.

    Raises:
        PresetError: unknown preset, TOML syntax, or any schema problem, naming file and key.
    """
    source, text = preset_text(name_or_path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(source, f"not valid TOML ({exc})") from None
    for override in overrides:
        raw = apply_override(raw, override)
    file = _preset_file(name_or_path)
    return parse_preset(raw, source, file.resolve().parent if file else None)


def preset_text(name_or_path: str | Path) -> tuple[str, str]:
    """(source, TOML text) of a shipped preset by name or of a .toml file, as load_preset reads it.

    Raises:
        PresetError: no such file or shipped preset.
    """
    path = _preset_file(name_or_path)
    if path is not None:
        if not path.is_file():
            raise PresetError(path, "no such preset file")
        try:
            return str(path), path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise PresetError(path, f"cannot read it ({exc})") from None
    if str(name_or_path) in builtin_names():
        source = f"{name_or_path}.toml"
        return source, resources.files("tuss_fx.builtin_presets").joinpath(source).read_text()
    raise PresetError(name_or_path, f"no such preset; shipped presets: {', '.join(builtin_names())}")


def apply_override(raw: dict[str, Any], override: str) -> dict[str, Any]:
    """Return a copy of `raw` with "a.b.c=value" set; value is read as TOML, else kept as text.

    List items are addressed by index: "stems.speech.chain.0.cutoff_frequency_hz=120".
    """
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise PresetError("--set", f"{override!r}: expected dotted.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    raw = copy.deepcopy(raw)
    node: Any = raw
    parts = key.strip().split(".")
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise PresetError("--set", f"{key}: no list item {part!r} at {'.'.join(parts[:depth])}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise PresetError("--set", f"{key}: {'.'.join(parts[: depth + 1])} is not a table")
    if isinstance(node, list):
        if not parts[-1].isdigit() or int(parts[-1]) >= len(node):
            raise PresetError("--set", f"{key}: no list item {parts[-1]!r}")
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return raw


def _preset_file(name_or_path: str | Path) -> Path | None:
    """The file a preset reference names (a .toml path, or any existing path); None for a shipped name."""
    path = Path(name_or_path)
    return path if path.suffix == ".toml" or path.exists() else None


def parse_preset(raw: dict[str, Any], source: str, folder: Path | None = None) -> Preset:
    """Validate a TOML mapping against the preset schema (see presets/*.toml for examples).

    folder: the preset file's folder; a file the preset names (a Convolution's impulse response) must lie
    in it or below, so a shared preset cannot read other files into a mix. None (a shipped preset, a
    mapping): the preset may name no file.
    """

    def fail(key: str, problem: str) -> PresetError:
        return PresetError(source, f"{key}: {problem}")

    _no_unknown_keys(raw, _TOP_KEYS, "", fail)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise fail("name", "required, a non-empty string")
    prompts = raw.get("prompts")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise fail("prompts", "required, a non-empty list of prompt names")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    engine = raw.get("dialogue_engine")
    if engine is not None and engine not in ENGINES:
        raise fail("dialogue_engine", f"{engine!r} is not one of {', '.join(ENGINES)}")
    plan = raw.get("plan", "auto")
    if plan not in PLANS:
        raise fail("plan", f"{plan!r} is not one of {', '.join(PLANS)}")
    names = source_names(prompts)
    stems_raw = raw.get("stems", {})
    if not isinstance(stems_raw, dict):
        raise fail("stems", "must be a table of [stems.<stem>] tables")
    stems = {}
    for stem, settings in stems_raw.items():
        key = f"stems.{stem}"
        if stem not in names:
            raise fail(key, f"no such stem; stems of this preset: {', '.join(names)}")
        stems[stem] = _stem_settings(settings, key, fail, folder)
    background = raw.get("background")
    if background is not None:
        if "speech" not in prompts:
            raise fail("background", "a background is what the dialogue plan plays beside the dialogue; this "
                                     "preset has no speech prompt")
        background = _stem_settings(background, "background", fail, folder)
    master = raw.get("master", {})
    if not isinstance(master, dict):
        raise fail("master", "must be a table")
    _no_unknown_keys(master, _MASTER_KEYS, "master", fail)
    target = master.get("target_lufs")
    if target is not None:
        target = _number(target, "master.target_lufs", fail)
        if not -70.0 <= target <= 0.0:
            raise fail("master.target_lufs", f"{target} is outside -70..0 LUFS")
    gate = master.get("loudness_gate", "integrated")
    if gate not in LOUDNESS_GATES:
        raise fail("master.loudness_gate", f"{gate!r} is not one of {', '.join(LOUDNESS_GATES)}")
    if gate == "dialogue" and "speech" not in prompts:
        raise fail("master.loudness_gate", "dialogue gating needs a speech prompt to find the dialogue")
    ride = _ride(raw.get("ride"), prompts, fail)
    ceiling = _number(master.get("ceiling_db", DEFAULT_CEILING_DB), "master.ceiling_db", fail)
    if not -20.0 <= ceiling <= 0.0:
        raise fail("master.ceiling_db", f"{ceiling} is outside -20..0 dBFS")
    return Preset(name, tuple(prompts), source, description, stems,
                  _chain(master.get("chain", []), "master.chain", fail, folder), target, ceiling, engine, gate, plan,
                  background, ride=ride)


def _ride(table: Any, prompts: list[str], fail) -> RideSettings | None:
    """A [ride] table: RideSettings' fields, numbers, checked together."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise fail("ride", "must be a table")
    if "speech" not in prompts:
        raise fail("ride", "a ride lowers the background under the dialogue; this preset has no speech prompt")
    _no_unknown_keys(table, _RIDE_KEYS, "ride", fail)
    ride = RideSettings(**{key: _number(value, f"ride.{key}", fail) for key, value in table.items()})
    problem = ride.check()
    if problem:
        raise fail("ride", problem)
    return ride


def _stem_settings(settings: Any, key: str, fail, folder: Path | None) -> StemSettings:
    """A [stems.<stem>] or [background] table: gain_db (at most +24 dB) and chain."""
    if not isinstance(settings, dict):
        raise fail(key, "must be a table")
    _no_unknown_keys(settings, _STEM_KEYS, key, fail)
    gain = _number(settings.get("gain_db", 0.0), f"{key}.gain_db", fail)
    if gain > 24.0:
        raise fail(f"{key}.gain_db", f"{gain} dB is more than +24 dB")
    return StemSettings(gain, _chain(settings.get("chain", []), f"{key}.chain", fail, folder))


def _no_unknown_keys(table: dict, allowed: set[str], where: str, fail) -> None:
    for key in table:
        if key not in allowed:
            raise fail(f"{where}.{key}".lstrip("."), f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _number(value: Any, key: str, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise fail(key, f"expected a number, got {value!r}")
    return float(value)


def _chain(entries: Any, key: str, fail, folder: Path | None) -> tuple[EffectSpec, ...]:
    if not isinstance(entries, list):
        raise fail(key, "must be a list of { plugin = \"...\", ... } tables")
    specs = []
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("plugin"), str):
            raise fail(where, "each entry needs plugin = \"<pedalboard class>\"")
        params = {k: v for k, v in entry.items() if k != "plugin"}
        if entry["plugin"] in FILE_PARAMS:
            params = _files_beside(params, FILE_PARAMS[entry["plugin"]], where, fail, folder)
        spec = EffectSpec(entry["plugin"], params)
        _check_effect(spec, where, fail)
        specs.append(spec)
    return tuple(specs)


def _files_beside(params: dict[str, Any], names: tuple[str, ...], where: str, fail,
                  folder: Path | None) -> dict[str, Any]:
    """`params` with each file parameter made an absolute path inside `folder` (relative paths are read from
    the preset's folder, not the working one); a path outside it, or any file where there is no folder, fails."""
    resolved = dict(params)
    for name in names:
        if name not in params:
            continue
        value = params[name]
        if folder is None:
            raise fail(f"{where}.{name}", "only a preset file may name a file, and only one beside it")
        if not isinstance(value, str):
            raise fail(f"{where}.{name}", f"expected a file name, got {value!r}")
        path = (folder / value).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise fail(f"{where}.{name}", f"{value!r} is outside the preset's folder; a preset reads files beside "
                                          f"it only")
        if not path.is_file():
            raise fail(f"{where}.{name}", f"no such file beside the preset ({path})")
        resolved[name] = str(path)
    return resolved


def _check_effect(spec: EffectSpec, where: str, fail) -> None:
    """Construct it once, so a bad name, parameter, type or value is caught at load time."""
    if spec.plugin not in effect_names():
        raise fail(f"{where}.plugin", f"unknown plugin {spec.plugin!r}; pedalboard effects: "
                                      f"{', '.join(effect_names())}")
    try:
        spec.build()
        return
    except (TypeError, ValueError, RuntimeError):
        pass
    for param, value in spec.params.items():  # find the first parameter pedalboard refuses
        try:
            build_plugin(spec.plugin, {param: value})
        except TypeError:
            raise fail(f"{where}.{param}", f"{spec.plugin} has no parameter {param!r} of type "
                                           f"{type(value).__name__}") from None
        except (ValueError, RuntimeError) as exc:
            raise fail(f"{where}.{param}", f"bad value {value!r} ({exc})") from None
    raise fail(where, f"{spec.plugin} refuses these parameters together")

"""The default training corpus: which installed package trains or evaluates which prompt class.

DATA.md's survey, split by source so held-out evaluation never hears a training source: other
packages, other speakers' voice packs (hedgewars), another soundfont and MIDI collection (stems).
Archive member globs are fnmatch patterns, whose * also matches across '/'.
"""

from __future__ import annotations

from tuss_fx.train.midi_stems import ChoraleStemSource, MidiStemSource
from tuss_fx.train.packages import SourceSpec
from tuss_fx.train.tts import PiperSpeechSource

_HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices/{}/*.ogg"
_HEDGEWARS_TRAIN_PACKS = ("Classic", "Default", "Default_es", "Default_pl", "Default_ru", "Default_uk", "HillBilly",
                          "Mobster", "Pirate", "Robot", "Russian", "Russian_pl", "Surfer")
_SONIC_PI = "usr/share/sonic-pi/samples/{}"
_ASTERISK = "usr/share/asterisk/sounds/{}/*.{}"
_0AD = "usr/share/games/0ad/mods/public/public.zip"
_OPENARENA = "usr/share/games/openarena/baseoa/pak0.pk3"
_FLUIDR3 = "usr/share/sounds/sf2/FluidR3_GM.sf2"
_MUSESCORE_LITE = "usr/share/sounds/sf3/MuseScore_General_Lite.sf3"

SPEECH = (
    SourceSpec("speech", "klettres-data", ("usr/share/klettres/*/alpha/*.ogg", "usr/share/klettres/*/syllab/*.ogg")),
    SourceSpec("speech", "hedgewars-data", tuple(_HEDGEWARS_VOICES.format(p) for p in _HEDGEWARS_TRAIN_PACKS)),
    SourceSpec("speech", "0ad-data", ("audio/voice/*.ogg",), archive=_0AD),
    PiperSpeechSource(count=250),
    # the stamp names of KDE's ktuberling, spoken by native speakers of 25 languages: short, but
    # many real voices and microphones
    SourceSpec("speech", "ktuberling-data", ("usr/share/ktuberling/sounds/*/*.ogg",
                                             "usr/share/ktuberling/sounds/*/*.opus")),
    # read IVR sentences as G.722 (16 kHz, speech up to 7 kHz, the bandwidth of read-speech corpora
    # such as LibriSpeech) rather than the same recordings' 8 kHz WAV; the manifest's bandwidth_hz says so
    *(SourceSpec("speech", f"asterisk-core-sounds-{lang}-g722", (_ASTERISK.format(voice, "g722"),))
      for lang, voice in (("es", "es_MX_f_Allison"), ("fr", "fr_CA_f_June"), ("it", "it_IT_m_Carlo"),
                          ("ru", "ru_RU_f_IvrvoiceRU"))),
    SourceSpec("speech", "hedgewars-data", tuple(_HEDGEWARS_VOICES.format(p) for p in ("British", "Singer")),
               "heldout"),
    SourceSpec("speech", "asterisk-core-sounds-en-wav", (_ASTERISK.format("en_US_f_Allison", "wav"),), "heldout"),
)
EFFECTS = (
    SourceSpec("sfx", "0ad-data", tuple(f"audio/{kind}/*" for kind in ("actor", "attack", "resource", "interface")),
               archive=_0AD),
    SourceSpec("sfx", "openarena-data", tuple(f"sound/{kind}/*" for kind in ("weapons", "player", "items", "movers",
                                                                             "misc")), archive=_OPENARENA),
    SourceSpec("sfx", "hedgewars-data", ("usr/share/games/hedgewars/Data/Sounds/*.ogg",)),
    SourceSpec("sfx", "scorched3d-data", ("usr/share/games/scorched3d/data/globalmods/*/data/wav/*/*.wav",)),
    SourceSpec("sfx", "minetest-data", ("usr/share/games/minetest/games/*/mods/*/sounds/*.ogg",), "heldout"),
    SourceSpec("sfx", "sonic-pi-samples", (_SONIC_PI.format("perc_*.flac"), _SONIC_PI.format("elec_*.flac")),
               "heldout"),
    SourceSpec("sfxbg", "0ad-data", ("audio/ambient/*",), archive=_0AD),
    SourceSpec("sfxbg", "sonic-pi-samples", (_SONIC_PI.format("ambi_*.flac"),)),
    SourceSpec("sfxbg", "sonic-pi-samples", (_SONIC_PI.format("vinyl_*.flac"),), "heldout"),
    SourceSpec("sfxbg", "openarena-data", ("sound/world/ambient/*",), "heldout", archive=_OPENARENA),
)
MUSIC = (
    SourceSpec("musicbg", "0ad-data", ("audio/music/*.ogg",), archive=_0AD),
    SourceSpec("musicbg", "colobot-common-sounds", ("usr/share/games/colobot/music/*.ogg",)),
    SourceSpec("musicbg", "wesnoth-1.16-music", ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",)),
    SourceSpec("musicbg", "hedgewars-data", ("usr/share/games/hedgewars/Data/Music/*.ogg",), "heldout"),
    SourceSpec("musicbg", "supertux-data", ("usr/share/games/supertux2/music/*/*.ogg",), "heldout"),
    SourceSpec("musicbg", "sonic-pi-samples", (_SONIC_PI.format("loop_*.flac"),), "heldout"),
    # instrument stems (and their sum as musicbg): one MIDI collection and soundfont each side
    MidiStemSource("freedoom", ("usr/share/games/doom/freedoom*.wad",), _FLUIDR3, "fluid-soundfont-gm"),
    ChoraleStemSource(),  # sung soprano lines (choir patch) for the vocals stem
    MidiStemSource("openttd-openmsx", ("usr/share/games/openttd/baseset/openmsx/*.mid",), _MUSESCORE_LITE,
                   "musescore-general-soundfont-small", "heldout"),
)
DEFAULT_SOURCES = SPEECH + EFFECTS + MUSIC

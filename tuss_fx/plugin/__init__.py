"""pedalboard-style processors built on TUSS (TUSSExtract, TUSSRemove, TUSSRemix, and TUSSRide, the
dialogue ride) and Chain, which
hosts them beside native pedalboard plugins (processors), on the process/reset contract of
pedalboard (processor). The public names are re-exported here: `from tuss_fx.plugin import Chain`.

Floor 7: may import mix and everything below it.
"""

from tuss_fx.plugin.processors import (DEFAULT_BUFFER_SIZE, Chain, HeldAudioWarning, TUSSExtract, TUSSRemix,
                                       TUSSRemove, task_prompts)
from tuss_fx.plugin.ride import TUSSRide

__all__ = ["Chain", "DEFAULT_BUFFER_SIZE", "HeldAudioWarning", "TUSSExtract", "TUSSRemix", "TUSSRemove", "TUSSRide",
           "task_prompts"]

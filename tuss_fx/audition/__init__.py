"""`tuss-fx audition`: listen before you batch. A programme is separated once under its preset's plan
(cached), and a page on 127.0.0.1 plays its stems in sync under faders, A/B against the original, renders
the region through the real preset and saves the gains as a preset that remix, batch and conform run.

Floor 8: may import measure, media, separation, mix and everything below them.
"""

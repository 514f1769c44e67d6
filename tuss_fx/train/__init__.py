"""Training TUSS: the official recipe's mixture sampler and loss, a resumable loop, evaluation.

Floor 8: may import separation and everything below it, never mix, plugin, batch or cli.
"""

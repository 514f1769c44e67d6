"""Training TUSS: the official recipe's mixture sampler and loss, a resumable loop, evaluation."""

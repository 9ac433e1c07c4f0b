"""Machine-learning tools: amplitude surrogates, a flow-matching event generator and a classifier test."""

"""Experiments: definitions, assignment, results and bandits over the served answers."""

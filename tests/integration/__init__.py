"""Integration tests: the simulator served on loopback, driven by real clients.

A package (unlike the other test folders) because ``test_sim_faults.py`` exists both here
and under ``tests/unit/sim``: pytest's default import mode needs unique module names.
"""

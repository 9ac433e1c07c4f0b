"""Event records: the particle-level columns, HepMC3 output and reading event files for analysis."""

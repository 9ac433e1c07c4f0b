"""Event generation: Pythia8, MadGraph5_aMC@NLO, their decay tables and the merging of samples."""

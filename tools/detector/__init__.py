"""Detector simulation: Delphes and the parametric detector, their cards and card summaries."""

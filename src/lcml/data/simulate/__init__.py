"""Simulated releases: Kepler and K2 light curves, the AstroM3 multimodal set, and their priors."""

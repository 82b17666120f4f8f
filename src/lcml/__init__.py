"""lcml: a model registry and retraining system for variable-star light-curve classifiers."""

__version__ = "0.1.0"

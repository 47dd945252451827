"""Training, cross-validation, metrics with intervals, safe model files and model cards."""

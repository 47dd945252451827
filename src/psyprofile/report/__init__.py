"""HTML report, plots and word clouds."""

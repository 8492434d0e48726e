"""Visualisation wing: plotly figure builders (frame in, figure out) and the self-contained report.html."""

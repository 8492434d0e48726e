"""Routing Lens core: tracing, metrics and analyses of MoE routing. Never imports streamlit."""

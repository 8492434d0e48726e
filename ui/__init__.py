"""Streamlit glue shared by the pages: model holding, the sidebar, error display. No statistics here."""

"""Load-testing the app: a server under measurement, a Streamlit-protocol client, a browser client."""

"""The baseline page of bench/page_latency.py: Streamlit with nothing but a title (no router, no sidebar)."""

import streamlit as st

st.title("Bare Streamlit page")

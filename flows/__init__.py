"""Prefect flows. Importing this package sets offline-friendly Prefect defaults (no analytics, a patient
temporary server); values already in the environment win."""
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

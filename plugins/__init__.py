"""Airflow plugins of the gateway (Airflow's plugins folder: ``AIRFLOW__CORE__PLUGINS_FOLDER``)."""

"""Airflow DAG files of the gateway (the DAGs folder of ``AIRFLOW__CORE__DAGS_FOLDER``)."""

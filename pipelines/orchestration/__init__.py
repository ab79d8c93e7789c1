"""The job on an orchestrator: Dagster assets (``dagster_defs``) and an Airflow DAG
(``airflow_dag``), each with its optional extra (``pip install .[dagster]`` / ``.[airflow]``).

Both run the job's own sources and destination, and keep the run state in a
:class:`pipelines.job.state_store.StateStore` (README "Running on an orchestrator").
"""

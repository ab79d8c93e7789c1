"""The parts of the job ``pipelines/lms_to_hubspot.py``, one concern each.

| module | owns |
|---|---|
| ``common`` | the project's paths, the sources' names, the job's two errors, flag-or-config lookup |
| ``cli`` | the flags, their checks, the combinations that are mistakes |
| ``config`` | which ``.dlt/`` the job reads (the project's, wherever it starts) and saying so |
| ``targets`` | HubSpot or the embedded sandbox, the state each keeps, a dry run's throwaway copy, a worker's checkout |
| ``state_store`` | the state on a shared volume or object storage: lock, copy in, copy back |
| ``inputs`` | the dlt source for ``--source``, checked before the run |
| ``run`` | the destination's settings, the portal check, the pipeline, mirror mode |
| ``report`` | the summary, and one paragraph per expected failure |
"""

"""The runnable job (``python pipelines/lms_to_hubspot.py``) and its LMS sources.

A package so the job and its tests import ``pipelines.sources.*`` by one name; it is not
installed with the destination (``pip install .`` ships ``hubspot_courses_destination`` only).
"""

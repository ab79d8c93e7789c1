"""LMS sources for the job: each module composes a real dlt source with one mapping function.

Each also has an enrollments resource (``moodle_enrollments``, ``canvas_enrollments``,
``csv_enrollments``, the sample's synthetic ``sample_enrollments``) writing rows of
``common.enrollment_row`` to its own ``<source>_enrollments`` table.

| module | dlt source | mapping |
|---|---|---|
| ``moodle`` | ``sql_database.sql_table`` on ``mdl_course``, incremental on ``timemodified`` | ``map_moodle_course`` |
| ``canvas`` | ``rest_api`` on ``/api/v1/accounts/:id/courses``, bearer auth, Link-header paging | ``map_canvas_course`` |
| ``csv_export`` | ``filesystem`` + a csv-module reader (OULAD or HubSpot-named columns) | ``map_oulad_course`` / ``map_course_csv_row`` |
| ``sample`` | the bundled real data in ``pipelines/sample_data/`` | ``map_sloan_course`` (+ OULAD) |
"""

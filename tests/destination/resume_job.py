"""A pipeline run in a child process, so a test can kill -9 it mid-load and run it again.

Usage: python resume_job.py SANDBOX_URL STAGING_PATH PIPELINES_DIR N_ROWS
"""

from __future__ import annotations

import sys

import dlt

from hubspot_courses_destination import hubspot_courses
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN


def expected_rows(n: int) -> list[dict]:
    return [
        {"lms_course_key": f"k{i:05d}", "hs_course_name": f"Course {i}", "hs_enrollment_capacity": i % 97}
        for i in range(n)
    ]


def main(url: str, staging_path: str, pipelines_dir: str, n: int) -> None:
    pipeline = dlt.pipeline(
        "resume_job",
        destination=hubspot_courses(
            access_token=DEFAULT_TOKEN, api_base_url=url, id_property="lms_course_key",
            staging_path=staging_path, create_missing_properties=True, max_concurrency=2,
        ),
        pipelines_dir=pipelines_dir,
    )
    if pipeline.has_pending_data:
        pipeline.load()  # finish the package the killed run left behind
    pipeline.run(expected_rows(n), table_name="courses")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

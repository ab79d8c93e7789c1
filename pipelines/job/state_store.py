"""The job's shared run state: the store lives in the destination package
(``hubspot_courses_destination.state_store``) so that the ``rejected`` CLI can check a state out
too without importing the job; this module keeps the job's import path."""

from hubspot_courses_destination.state_store import (  # noqa: F401
    STATE_FILES,
    Checkout,
    LockInfo,
    StateLocked,
    StateStore,
    StateStoreError,
    describe_checkout,
)

__all__ = ["StateStore", "StateLocked", "StateStoreError", "LockInfo", "Checkout", "describe_checkout", "STATE_FILES"]

"""`python -m hubspot_courses_destination.sandbox --port 8765`: run the sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import sys

from .app import DEFAULT_PORTAL_ID, DEFAULT_TOKEN, Sandbox

DEFAULT_ASSOCIATION_LABELS = ("Student", "Instructor")
"""Course -> contact labels a portal's admin would create for course enrollments; without
them every labelled enrollment is refused (UNKNOWN_LABEL), as a real portal would."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubspot_courses_destination.sandbox",
        description="A local HubSpot-compatible Courses (0-410) API backed by DuckDB.",
        allow_abbrev=False,
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--db", default=None, help="DuckDB file to keep records in (default: in memory)")
    parser.add_argument("--token", default=DEFAULT_TOKEN,
                        help=f"private-app token to accept (default: {DEFAULT_TOKEN})")
    parser.add_argument("--rate-limit-per-10s", type=int, default=100, help="requests per rolling 10 s per token")
    parser.add_argument("--daily-limit", type=int, default=250_000, help="requests per day for the portal")
    parser.add_argument("--latency-ms", type=float, default=0, help="added latency per request (±20%% jitter)")
    parser.add_argument("--portal-id", type=int, default=DEFAULT_PORTAL_ID, help="portal id shown in messages")
    parser.add_argument("--seed", type=int, default=0, help="seed for result order and latency jitter")
    parser.add_argument("--no-legacy-paths", action="store_true",
                        help="answer the legacy /crm/v3, /crm/v4, /account-info/v3 paths with 404")
    parser.add_argument("--record-limit", type=int, default=None,
                        help="the portal's Courses record limit shown by /crm/limits/2026-09/records")
    parser.add_argument("--validation-rule", action="append", default=[], metavar="PROP:RULE_TYPE[:ARG]...",
                        help="a property validation rule, e.g. hs_course_name:MAX_LENGTH:100 (repeatable;"
                             " arguments are ':'-separated; a REGEX takes the rest as its pattern)")
    parser.add_argument("--conditional-required", action="append", default=[], metavar="PROP:WHEN_PROP=VALUE",
                        help="PROP is required when WHEN_PROP has VALUE (2026-09 paths only; repeatable)")
    parser.add_argument("--form-required", action="append", default=[], metavar="PROP",
                        help="a required property of the create-record form (2026-09 paths only; repeatable)")
    parser.add_argument("--association-label", action="append", default=None, metavar="NAME",
                        help="a user-defined course -> contact association label to create at start "
                             f"(repeatable; default: {' and '.join(DEFAULT_ASSOCIATION_LABELS)})")
    return parser


def association_labels(args: argparse.Namespace) -> list[str]:
    """The labels to create: the flags' (each once, in order), else the defaults."""
    return list(dict.fromkeys(args.association_label or DEFAULT_ASSOCIATION_LABELS))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    sandbox = Sandbox(
        args.port, db_path=args.db, token=args.token, rate_limit_per_10s=args.rate_limit_per_10s,
        daily_limit=args.daily_limit, latency_ms=args.latency_ms, portal_id=args.portal_id, seed=args.seed,
        legacy_paths=not args.no_legacy_paths, record_limit=args.record_limit,
    )
    try:
        apply_rules(sandbox, args.validation_rule, args.conditional_required, args.form_required)
        labels = association_labels(args)
        if any(not label.strip() for label in labels):
            raise ValueError("--association-label needs a name")
        for label in labels:
            with contextlib.suppress(ValueError):  # kept from an earlier start on the same --db
                sandbox.create_association_label(label)
    except ValueError as e:
        sandbox.stop()
        parser.error(str(e))
    url = sandbox.start()
    print(f"HubSpot sandbox listening on {url}", flush=True)
    print(f"token: {args.token}", flush=True)
    print(f"course -> contact association labels: {', '.join(association_labels(args))}", flush=True)
    try:
        sandbox.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def apply_rules(sandbox: Sandbox, validation: list[str], conditional: list[str], form: list[str]) -> None:
    """The CLI's rule flags, applied to the Courses object; ValueError for a malformed one."""
    for spec in validation:
        prop, _, rest = spec.partition(":")
        rule_type, _, args = rest.partition(":")
        if not prop or not rule_type:
            raise ValueError(f"--validation-rule {spec!r}: expected PROP:RULE_TYPE[:ARG...]")
        # A REGEX pattern may hold ':', so everything after REGEX: is the pattern.
        arguments = [args] if rule_type == "REGEX" else (args.split(":") if args else [])
        sandbox.set_validation_rule("0-410", prop, rule_type, arguments)
    for spec in conditional:
        prop, _, cond = spec.partition(":")
        when_prop, eq, value = cond.partition("=")
        if not prop or not when_prop or not eq:
            raise ValueError(f"--conditional-required {spec!r}: expected PROP:WHEN_PROP=VALUE")
        sandbox.add_conditional_required("0-410", prop, when_prop, value)
    if form:
        sandbox.set_create_form_required("0-410", form)


if __name__ == "__main__":
    sys.exit(main())

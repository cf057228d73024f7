"""``carespace invite --patient ID --email ADDRESS``: send, or resend, a registration invite."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fhir_server.config import Settings


def cmd_invite(args: argparse.Namespace) -> int:
    from fhir_server import mail
    from fhir_server.cli import _run_with_store
    from fhir_server.portal.invites import AlreadyRegistered, invite_patient
    from fhir_server.resources.errors import FhirError

    async def work(services: Any, settings: Settings) -> int:
        try:
            sent = await invite_patient(services, args.patient, args.email)
        except AlreadyRegistered:
            print(f"Patient/{args.patient} is already registered for the portal; no invite was sent.")
            return 1
        except FhirError as exc:
            print(f"carespace: {exc.diagnostics}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"carespace: {exc}", file=sys.stderr)
            return 1
        if not await mail.drain(wait_at_most=120):
            print(f"carespace: the invite for Patient/{sent.patient_id} is stored, but the mail to {sent.email} "
                  "could not be delivered; check CARESPACE_SMTP_URL and run the command again to resend.",
                  file=sys.stderr)
            return 1
        what = "A new invite (the earlier link no longer works)" if sent.resent else "An invite"
        where = ("put in the outbox (no CARESPACE_SMTP_URL set; `carespace serve --demo` shows it at /dev/outbox)"
                 if sent.outbox else "sent")
        print(f"{what} for Patient/{sent.patient_id} to {sent.email}: {where}. Valid for 4 days.")
        return 0

    return _run_with_store(args, work)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    invite = subparsers.add_parser("invite", parents=[common], help="send, or resend, a patient's registration invite")
    invite.add_argument("--patient", required=True, help="the Patient id")
    invite.add_argument("--email", required=True, help="where to send the invite")
    invite.set_defaults(func=cmd_invite)

"""``carespace staff add/list/remove``: the care team's accounts on the practice console."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fhir_server.errors import StartupError


def _add(args: argparse.Namespace) -> int:
    from fhir_server import mail
    from fhir_server.cli import _run_with_store
    from fhir_server.practice.accounts import add_staff
    from fhir_server.practice.staff import StaffError

    async def work(services: Any, settings: Any) -> int:
        try:
            added = await add_staff(services, email=args.email, name=args.name, role=args.role,
                                    practitioner_id=args.practitioner)
        except StaffError as exc:
            raise StartupError(str(exc)) from None
        member = added.staff
        linked = "a new" if added.practitioner_created else "the existing"
        print(f"Added {member.name} <{member.email}> as {member.role}, linked to {linked} "
              f"Practitioner/{member.practitioner_id}.")
        if not await mail.drain(wait_at_most=120):
            print(f"carespace: the invite for {member.email} is stored, but the mail could not be delivered; check "
                  "CARESPACE_SMTP_URL and resend it from the console's Staff page.", file=sys.stderr)
            return 1
        where = "put in the outbox (no CARESPACE_SMTP_URL set)" if added.outbox else "sent"
        print(f"Their invite was {where}. It works once, for 4 days.")
        return 0

    return _run_with_store(args, work)


def _list(args: argparse.Namespace) -> int:
    from fhir_server.cli import _run_with_store
    from fhir_server.practice.staff import list_all

    async def work(services: Any, settings: Any) -> int:
        members = await list_all(services.db)
        if not members:
            print("No staff accounts yet. Add one with: carespace staff add --email E --name N --role admin")
            return 0
        rows = [("EMAIL", "NAME", "ROLE", "STATUS", "PRACTITIONER")]
        rows += [(m.email, m.name, m.role, m.status, f"Practitioner/{m.practitioner_id}") for m in members]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        return 0

    return _run_with_store(args, work)


def _remove(args: argparse.Namespace) -> int:
    from fhir_server.cli import _run_with_store
    from fhir_server.practice.accounts import remove_staff

    async def work(services: Any, settings: Any) -> int:
        removed = await remove_staff(services, args.email)
        if removed is None:
            raise StartupError(f"No staff account uses {args.email}.")
        print(f"Removed {removed.email}; their sessions have ended.")
        return 0

    return _run_with_store(args, work)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from fhir_server.access import STAFF_ROLES

    staff = sub.add_parser("staff", help="the care team's accounts on the practice console (/practice)")
    actions = staff.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common], help="add a staff member and mail them an invite")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=STAFF_ROLES, default="clinician",
                     help="front-desk, clinician (default) or admin")
    add.add_argument("--practitioner", metavar="ID",
                     help="link to this Practitioner (default: the one with this email, else a new one)")
    add.set_defaults(func=_add)
    listing = actions.add_parser("list", parents=[common], help="list the staff accounts")
    listing.set_defaults(func=_list)
    remove = actions.add_parser("remove", parents=[common], help="remove a staff account and end its sessions")
    remove.add_argument("--email", required=True)
    remove.set_defaults(func=_remove)

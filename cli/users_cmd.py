"""``kith users …`` and ``kith keys …``: people, their roles and their API keys."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from kith.cli.common import KithCliError, console, with_kith
from kith.core.records.change import Actor
from kith.core.runtime import Kith

CLI = Actor(name="cli", source="cli")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


async def _user(kith: Kith, email: str) -> dict:
    user = await kith.auth.user_by_email(email)
    if user is None:
        raise KithCliError(f"no user with email {email!r}")
    return user


@click.group("users")
def users_group() -> None:
    """CRM users: add, list, set passwords, grant and revoke roles."""


@users_group.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Full name.")
@click.option("--role", "roles", multiple=True, help="Role to grant (repeat): admin, manager, sales_rep, ...")
@click.option("--team", help="Team name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@click.option("--no-password", is_flag=True, help="Create the user without a password (API keys only).")
@with_kith
async def add_user(
    kith: Kith, email: str, name: str, roles: tuple[str, ...], team: str | None, password_stdin: bool, no_password: bool
) -> None:
    """Add a user with a password and roles."""
    values: dict = {"email": email, "name": name}
    if team:
        rows = await kith.db.execute("SELECT id FROM team WHERE name = {} AND deleted_at IS NULL", team)
        if not rows:
            raise KithCliError(f"no team named {team!r}")
        values["team"] = rows[0]["id"]
    password = None if no_password else _read_password(password_stdin)
    known = await kith.auth.role_names()
    unknown = [r for r in roles if r not in known]
    if unknown:
        raise KithCliError(f"unknown role {unknown[0]!r} (roles: {', '.join(known)})")
    async with kith.db.write_transaction():
        user = await kith.records.create("user", values, CLI)
        if password is not None:
            await kith.auth.set_password(user["id"], password)
        for role in roles:
            await kith.auth.grant_role(user["id"], role)
    console.print(f"[green]Added[/] {user['email']} (id {user['id']}; roles: {', '.join(roles) or 'none'})")


@users_group.command("list")
@with_kith
async def list_users(kith: Kith) -> None:
    """Users with their roles."""
    rows = await kith.db.execute(
        "SELECT u.id, u.email, u.name, u.is_active, r.role FROM kith_user u "
        "LEFT JOIN kith_user_role r ON r.user_id = u.id WHERE u.deleted_at IS NULL ORDER BY u.id, r.role"
    )
    users: dict[int, dict] = {}
    for row in rows:
        entry = users.setdefault(row["id"], {**dict(row), "roles": []})
        if row["role"]:
            entry["roles"].append(row["role"])
    table = Table("id", "email", "name", "active", "roles", title="Users")
    for user in users.values():
        table.add_row(
            str(user["id"]), user["email"], user["name"], "yes" if user["is_active"] else "no", ", ".join(user["roles"])
        )
    console.print(table)


@users_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_kith
async def set_password(kith: Kith, email: str, password_stdin: bool) -> None:
    """Set a user's password (their existing tokens stop working)."""
    user = await _user(kith, email)
    await kith.auth.set_password(user["id"], _read_password(password_stdin))
    console.print(f"Password of {email} changed")


@users_group.command("grant")
@click.argument("email")
@click.argument("role")
@with_kith
async def grant(kith: Kith, email: str, role: str) -> None:
    """Give a user a role."""
    await kith.auth.grant_role((await _user(kith, email))["id"], role)
    console.print(f"{email} now has role {role}")


@users_group.command("revoke")
@click.argument("email")
@click.argument("role")
@with_kith
async def revoke(kith: Kith, email: str, role: str) -> None:
    """Take a role away from a user."""
    await kith.auth.revoke_role((await _user(kith, email))["id"], role)
    console.print(f"{email} no longer has role {role}")


@click.group("keys")
def keys_group() -> None:
    """API keys: create (shown once), list, revoke."""


@keys_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What uses the key (shown in lists).")
@click.option("--expires-days", type=float, help="Expire after this many days.")
@with_kith
async def create_key(kith: Kith, email: str, name: str, expires_days: float | None) -> None:
    """Create an API key acting as the user EMAIL; prints it once."""
    key, prefix = await kith.auth.create_key((await _user(kith, email))["id"], name, expires_days)
    console.print(f"API key {prefix} for {email} (shown once, keep it safe):")
    click.echo(key)


@keys_group.command("list")
@with_kith
async def list_keys(kith: Kith) -> None:
    """Every API key: prefix, user, state and last use."""
    table = Table("prefix", "name", "user", "created", "expires", "state", "last used", title="API keys")
    for key in await kith.auth.keys():
        state = "revoked" if key["revoked_at"] else "active"
        table.add_row(
            key["prefix"],
            key["name"],
            key["email"],
            str(key["created_at"])[:19],
            str(key["expires_at"] or "-")[:19],
            state,
            str(key["last_used_at"] or "-")[:19],
        )
    console.print(table)


@keys_group.command("revoke")
@click.argument("prefix")
@with_kith
async def revoke_key(kith: Kith, prefix: str) -> None:
    """Revoke the key with this prefix (kith_xxxxxxxx)."""
    await kith.auth.revoke_key(prefix)
    console.print(f"Revoked {prefix}")

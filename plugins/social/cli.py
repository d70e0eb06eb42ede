"""``kith social …``: the credentials key, accounts, fetching now, mentions and posts
from the command line, as the system (an admin's tool)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import click

from kith.plugins.social import accounts, intake, polling
from kith.plugins.social import credentials as vault
from kith.plugins.social.models import SENTIMENT_LABELS
from kith.plugins.social.publishing.models import POST_STATUSES
from kith.sdk import JobRun, KithError, PluginContext, ValidationFailed, with_context

#: what ``accounts.connect`` names a field, as the command's own words
CONNECT_FIELDS = {
    "platform": "PLATFORM",
    "handle": "--handle",
    "baseUrl": "--base-url",
    "timeZone": "--time-zone",
    "credentials": "--token",
}


@click.group("social")
def social_group() -> None:
    """Social: accounts, their credentials key, mentions and posts."""


@social_group.command("new-key")
def new_key() -> None:
    """Print a fresh key for the credentials_key setting."""
    click.echo(
        "Put this in kith.toml under [plugin.social] as credentials_key "
        """(or KITH_PLUGIN='{"social": {"credentials_key": "..."}}'):"""
    )
    click.echo(vault.new_key())


@social_group.command("rotate-key")
@with_context
async def rotate_key(context: PluginContext) -> None:
    """Encrypt every account's credentials again with the current credentials_key."""
    done = await vault.rotate(context)
    click.echo(f"Re-encrypted the credentials of {done} account(s) with the current key")


@social_group.command("accounts")
@with_context
async def list_accounts(context: PluginContext) -> None:
    """Every account: platform, handle, status, time zone, its last fetch and last error."""
    found = await context.records.list("social_account", order_by=[{"id": "ASC"}], first=1000)
    if not found:
        click.echo("No social accounts: connect one with kith social connect")
        return
    rows = [
        [a["id"], a["platform"], a["handle"], a["status"], a["time_zone"], _when(a.get("fetched_at")),
         _short(a.get("last_error"), 60)]
        for a in found
    ]  # fmt: skip
    _table(["ID", "PLATFORM", "HANDLE", "STATUS", "TIME ZONE", "LAST FETCHED (UTC)", "LAST ERROR"], rows)


@social_group.command("connect")
@click.argument("platform")
@click.option("--handle", default="", help="The account's handle on the platform (a webhook account's name).")
@click.option("--base-url", default="", help="Where the platform's API is (https://mastodon.social); a webhook "
              "account's bridge URL for posts out.")  # fmt: skip
@click.option("--token", default="", help="The access token the platform issued (kept encrypted).")
@click.option("--time-zone", default="UTC", show_default=True, help="The time zone posts to it are scheduled in.")
@click.option("--requires-approval", is_flag=True, help="Posts to it need a second person's approval.")
@with_context
async def connect(
    context: PluginContext, platform: str, handle: str, base_url: str, token: str, time_zone: str,
    requires_approval: bool,
) -> None:  # fmt: skip
    """Connect an account on PLATFORM (mastodon, webhook, or one an add-on brings): its
    credentials are checked first, then kept encrypted."""
    try:
        account, secret = await accounts.connect(
            _writer(context), platform=platform.strip().lower(), handle=handle, base_url=base_url,
            secrets={"access_token": token} if token else {}, time_zone=time_zone,
            requires_approval=requires_approval,
        )  # fmt: skip
    except ValidationFailed as exc:
        problems = (f"{CONNECT_FIELDS.get(e.field or '', e.field)}: {e.message}" for e in exc.errors)
        raise KithError("; ".join(problems)) from None
    click.echo(f"Connected {account['platform']} account {account['id']} ({account['handle']})")
    if secret is not None:
        click.echo(f"Signing secret (shown this once; give it to the bridge): {secret}")
        path = f"/social/webhooks/{account['id']}"
        click.echo(f"The bridge posts mentions to {context.public_url(path)}")


@social_group.command("poll")
@click.argument("account_id", required=False, type=int)
@with_context
async def poll(context: PluginContext, account_id: int | None) -> None:
    """Fetch new mentions now, from ACCOUNT_ID or every connected account that is
    fetched from (webhook accounts are pushed to by their bridge)."""
    if account_id is not None:
        account = await context.records.get("social_account", account_id)
        if account is None:
            raise KithError(f"no social account {account_id}")
        if account["platform"] == "webhook":
            raise KithError(f"account {account_id} is a webhook account: its bridge pushes mentions to Kith")
        if account["status"] != "connected":
            why = f": {account['last_error']}" if account.get("last_error") else ""
            raise KithError(f"account {account_id} is {account['status']}{why}")
        chosen = [account]
    else:
        chosen = await context.records.list(
            "social_account",
            {"status": {"eq": "connected"}, "platform": {"ne": "webhook"}},
            order_by=[{"id": "ASC"}],
            first=1000,
        )
        if not chosen:
            click.echo("No connected account to fetch from (webhook accounts are pushed to by their bridge)")
            return
    total, failed = 0, 0
    for account in chosen:
        new, error = await fetch_now(context, account)
        total += new
        if error is None:
            click.echo(f"{account['handle']} ({account['platform']}): {new} new mention(s)")
        else:
            failed += 1
            click.echo(f"{account['handle']} ({account['platform']}): not fetched: {error}")
    if total:
        await intake.run_process(_writer(context), _run(intake.PROCESS_JOB, None))
    click.echo(f"Stored {total} new mention(s)")
    if failed:
        raise KithError(f"{failed} account(s) could not be fetched")


async def fetch_now(context: PluginContext, account: Mapping[str, Any]) -> tuple[int, str | None]:
    """One fetch of ``account`` with the poll job's own logic (``polling.fetch_once``),
    queueing nothing (the account's own runs go on): how many mentions it stored, and
    why it failed (None: it did not)."""
    account_id = int(account["id"])
    mine = {"accountId": {"eq": account_id}}
    before = await context.records.count("social_mention", mine)
    await polling.fetch_once(_writer(context), account_id)
    after = await context.records.get("social_account", account_id) or {}
    stored = await context.records.count("social_mention", mine) - before
    if after.get("status") != "connected":
        why = f": {after['last_error']}" if after.get("last_error") else ""
        return stored, f"{after.get('status')}{why}"
    return stored, after.get("last_error")


def _writer(context: PluginContext) -> PluginContext:
    """The command writing through the plugin, as its jobs do: it may set what clients
    may not (an account's status and last error, a token's expiry)."""
    return context.as_plugin(keep_permissions=False)


def _run(job: str, record_id: int | None) -> JobRun:
    now = dt.datetime.now(dt.UTC)
    entity = "social_account" if record_id is not None else ""
    return JobRun(job=job, key=f"cli:{now.isoformat()}", payload={}, entity=entity, record_id=record_id,
                  due_at=now, attempt=0)  # fmt: skip


@social_group.command("mentions")
@click.option("--account", "account_id", type=int, help="Only mentions of this account (by id).")
@click.option("--label", type=click.Choice(SENTIMENT_LABELS), help="Only mentions with this sentiment.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="How many, newest first.")
@with_context
async def mentions(context: PluginContext, account_id: int | None, label: str | None, limit: int) -> None:
    """Recent mentions, newest first: who, how it sounds, its ticket and its text."""
    where: dict[str, Any] = {}
    if account_id is not None:
        where["accountId"] = {"eq": account_id}
    if label is not None:
        where["sentimentLabel"] = {"eq": label}
    found = await context.records.list(
        "social_mention", where, order_by=[{"postedAt": "DESC"}, {"id": "DESC"}], first=limit
    )
    if not found:
        click.echo("No mentions")
        return
    handles = await _account_handles(context)
    tickets = await _ticket_numbers(context, [int(m["ticket"]) for m in found if m.get("ticket")])
    rows = []
    for m in found:
        score = m.get("sentiment_score")
        sentiment = f"{m['sentiment_label']} {score:+.2f}" if m.get("sentiment_label") and score is not None else "-"
        ticket = tickets.get(int(m["ticket"]), str(m["ticket"])) if m.get("ticket") else "-"
        account = handles.get(int(m["account"]), str(m["account"])) if m.get("account") else "-"
        rows.append([m["id"], _when(m.get("posted_at")), account, f"@{m['author_handle']}", sentiment, ticket,
                     _short(m.get("text"), 60)])  # fmt: skip
    _table(["ID", "POSTED (UTC)", "ACCOUNT", "AUTHOR", "SENTIMENT", "TICKET", "TEXT"], rows)


@social_group.command("posts")
@click.option("--status", type=click.Choice(POST_STATUSES), help="Only posts with this status.")
@with_context
async def list_posts(context: PluginContext, status: str | None) -> None:
    """Posts with their status and time, each account they go to with how it went there."""
    where = {"status": {"eq": status}} if status else None
    found = await context.records.list("social_post", where, order_by=[{"id": "ASC"}], first=1000)
    if not found:
        click.echo("No posts")
        return
    handles = await _account_handles(context)
    rows = [[p["id"], p["status"], _when(p.get("scheduled_at")), _short(p.get("text"), 60)] for p in found]
    header, *lines = _lines(["ID", "STATUS", "SCHEDULED (UTC)", "TEXT"], rows)
    targets_of: dict[int, list[dict[str, Any]]] = {}
    for target in await context.records.list(
        "social_post_target", {"postId": {"in": [p["id"] for p in found]}}, order_by=[{"id": "ASC"}], first=10000
    ):
        targets_of.setdefault(int(target["post"]), []).append(target)
    click.echo(header)
    for post, line in zip(found, lines, strict=True):
        click.echo(line)
        for target in targets_of.get(int(post["id"]), []):
            where_to = handles.get(int(target["account"]), str(target["account"]))
            how = target["status"]
            if target.get("url"):
                how += f" {target['url']}"
            if target.get("error"):
                how += f": {_short(target['error'], 200)}"
            click.echo(f"    -> {where_to}: {how}")


async def _account_handles(context: PluginContext) -> dict[int, str]:
    found = await context.records.list("social_account", order_by=[{"id": "ASC"}], first=1000, include_deleted=True)
    return {int(a["id"]): f"{a['handle']} ({a['platform']})" for a in found}


async def _ticket_numbers(context: PluginContext, ids: Sequence[int]) -> dict[int, str]:
    """The tickets' numbers (the service plugin's), when it is enabled; else their ids."""
    if not ids or "ticket" not in context.entity_names():
        return {}
    found = await context.records.list("ticket", {"id": {"in": sorted(set(ids))}}, first=1000, include_deleted=True)
    return {int(t["id"]): str(t.get("number") or t["id"]) for t in found}


def _when(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return str(value.strftime("%Y-%m-%d %H:%M"))


def _short(text: Any, width: int) -> str:
    """The text on one line, its first ``width`` characters (and … when there is more)."""
    flat = " ".join(str(text or "").split())
    if not flat:
        return "-"
    return flat if len(flat) <= width else flat[:width].rstrip() + "…"


def _lines(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A header and rows, each column as wide as its widest cell."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [list(headers), *cells]]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    for line in _lines(headers, rows):
        click.echo(line)

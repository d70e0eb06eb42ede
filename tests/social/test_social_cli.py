"""``kith social …`` as an admin runs it: a key for the credentials, an account connected
(and the refusals, each naming the option), mentions and posts listed, credentials
re-encrypted with a new key, and fetching from Mastodon now."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path

from cryptography.fernet import Fernet
from mastodon_server import mastodon_server
from social_helpers import KEY, item, signed, social_kith
from test_cli_reference import check_command, first_cells, synopsis_lines

from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.plugins.social import accounts
from kith.plugins.social.cli import social_group
from kith.plugins.social.publishing import posts
from kith.sdk.testing import make_contact, run_worker_until_idle, system_context, web_client

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def use_key(monkeypatch, key: str = KEY, previous: tuple[str, ...] = ()) -> None:
    social = {"credentials_key": key, "previous_credentials_keys": list(previous)}
    monkeypatch.setenv("KITH_PLUGIN", json.dumps({"social": social}))


async def deliver(url: str, account: int, secret: str, payload: dict) -> int:
    """A bridge's signed delivery to the account, then the worker processes it; the status code."""
    kith = await Kith.open(load_settings(database_url=url))
    try:
        body, headers = signed(secret, payload)
        async with web_client(kith) as client:
            answer = await client.post(f"/social/webhooks/{account}", content=body, headers=headers)
        await run_worker_until_idle(kith)
        return answer.status_code
    finally:
        await kith.close()


def test_every_social_command_and_option_is_in_the_reference():
    text = CLI_MD.read_text()
    body = text.split("\n### kith social\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    lines = synopsis_lines(body)
    problems = []
    for name, command in sorted(social_group.commands.items()):
        problems += check_command(f"kith social {name}", command, body, lines)
        if not any(re.search(rf"`{re.escape(name)}[ `]", cell) for cell in first_cells(body)):
            problems.append(f"`kith social {name}`: no table row names it")
    assert problems == []


def test_in_production_nothing_connects_without_a_key_and_new_key_prints_one(kith_cli, monkeypatch):
    monkeypatch.setenv("KITH_MODE", "production")
    assert kith_cli("plugins", "enable", "social").exit_code == 0
    refused = kith_cli("social", "connect", "webhook", "--handle", "acme")
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "Error: credentials_key: set [plugin.social] credentials_key (kith social new-key prints one) "
        "before connecting accounts"
    )
    assert kith_cli("social", "rotate-key").exit_code == 1
    made = kith_cli("social", "new-key")
    assert made.exit_code == 0
    where, key = made.output.splitlines()
    assert where == (
        "Put this in kith.toml under [plugin.social] as credentials_key "
        """(or KITH_PLUGIN='{"social": {"credentials_key": "..."}}'):"""
    )
    Fernet(key.encode())  # a key the setting takes
    assert kith_cli("social", "new-key").output.splitlines()[1] != key  # a fresh one each time


def test_a_developer_connects_without_a_key_and_rotate_key_moves_the_account_to_a_real_one(kith_cli, monkeypatch):
    assert kith_cli("plugins", "enable", "social").exit_code == 0
    made = kith_cli("social", "connect", "webhook", "--handle", "acme")
    assert made.exit_code == 0 and made.output.startswith("Connected webhook account 1 (acme)")
    use_key(monkeypatch)  # the operator sets a real key, then rotates
    assert kith_cli("social", "rotate-key").output.strip() == (
        "Re-encrypted the credentials of 1 account(s) with the current key"
    )
    (account,) = [cells(line) for line in kith_cli("social", "accounts").output.splitlines()[1:]]
    assert account[1:4] == ["webhook", "acme", "connected"]


def test_an_admin_connects_a_webhook_account_and_reads_mentions_and_posts(kith_cli, kith_database_url, monkeypatch):
    use_key(monkeypatch)
    assert kith_cli("plugins", "enable", "social").exit_code == 0
    assert kith_cli("social", "accounts").output == "No social accounts: connect one with kith social connect\n"
    assert kith_cli("social", "mentions").output == "No mentions\n"
    assert kith_cli("social", "posts").output == "No posts\n"

    made = kith_cli("social", "connect", "webhook", "--handle", "@Acme", "--time-zone", "Europe/Berlin")
    assert made.exit_code == 0, made.output
    connected, secret_line, address = made.output.splitlines()
    account = int(re.fullmatch(r"Connected webhook account (\d+) \(acme\)", connected).group(1))
    secret = secret_line.removeprefix("Signing secret (shown this once; give it to the bridge): ")
    assert secret.startswith("whsec_")
    assert address.startswith("The bridge posts mentions to http") and address.endswith(f"/social/webhooks/{account}")
    listed = kith_cli("social", "accounts").output.splitlines()
    assert [cells(line) for line in listed] == [
        ["ID", "PLATFORM", "HANDLE", "STATUS", "TIME ZONE", "LAST FETCHED (UTC)", "LAST ERROR"],
        [str(account), "webhook", "acme", "connected", "Europe/Berlin", "-", "-"],
    ]

    # each refusal is one line naming the option, and nothing is connected
    for args, message in [
        (["--time-zone", "Mars/Olympus"], "Error: --time-zone: 'Mars/Olympus' is not an IANA time zone"),
        (["--base-url", "http://10.0.0.7/hook"], "Error: --base-url: "),
    ]:
        refused = kith_cli("social", "connect", "webhook", "--handle", "other", *args)
        assert refused.exit_code == 1 and refused.output.startswith(message), refused.output
    unknown = kith_cli("social", "connect", "myspace")
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "Error: PLATFORM: no connector for 'myspace' (known: mastodon, webhook)"
    assert len(kith_cli("social", "accounts").output.splitlines()) == 2

    payload = {"items": [
        item("t-1", "@acme my order is late and nobody answers. Terrible service!", author={"email": "ann@example.com"}),
        item("t-2", "@acme thanks, it arrived, love it!", handle="bob_b", name="Bob Brown", inReplyTo="t-1",
             createdAt="2026-03-02T10:00:00Z"),
        item("t-3", "Which plan has the calendar sync?\nAsking for our whole team of twelve people, thanks a lot.",
             handle="cy", name=None, createdAt="2026-03-03T08:15:00+01:00"),
    ]}  # fmt: skip
    assert asyncio.run(deliver(kith_database_url, account, secret, payload)) == 202

    shown = [cells(line) for line in kith_cli("social", "mentions").output.splitlines()]
    assert shown[0] == ["ID", "POSTED (UTC)", "ACCOUNT", "AUTHOR", "SENTIMENT", "TICKET", "TEXT"]
    rows = shown[1:]
    assert [(r[1], r[2], r[3], r[4].split()[0], r[5]) for r in rows] == [
        ("2026-03-03 07:15", "acme (webhook)", "@cy", "positive", "-"),  # newest first, in UTC
        ("2026-03-02 10:00", "acme (webhook)", "@bob_b", "positive", "-"),
        ("2026-03-02 09:30", "acme (webhook)", "@ann", "negative", "-"),
    ]
    assert re.fullmatch(r"negative -0\.\d\d", rows[2][4]) and re.fullmatch(r"positive \+0\.\d\d", rows[1][4])
    # the first 60 characters, on one line
    assert rows[0][6] == "Which plan has the calendar sync? Asking for our whole team…"
    assert rows[1][6] == "@acme thanks, it arrived, love it!"
    negative = kith_cli("social", "mentions", "--label", "negative").output.splitlines()
    assert [cells(line)[3] for line in negative[1:]] == ["@ann"]
    assert len(kith_cli("social", "mentions", "--limit", "1").output.splitlines()) == 2
    assert kith_cli("social", "mentions", "--account", str(account + 1)).output == "No mentions\n"
    assert kith_cli("social", "mentions", "--label", "angry").exit_code == 2  # not a label

    async def write_posts() -> None:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            context = system_context(kith)
            later = await context.records.create("social_post", {"text": "Spring sale starts Monday #spring"})
            await posts.schedule(context, later["id"], "2030-01-02T09:00", [{"accountId": str(account)}])
            await context.records.create("social_post", {"text": "Half-written"})
            now = await context.records.create("social_post", {"text": "Out now"})
            await posts.schedule(context, now["id"], None, [{"accountId": str(account)}])
            await run_worker_until_idle(kith)  # a webhook account without a bridge URL cannot post
        finally:
            await kith.close()

    asyncio.run(write_posts())
    listed = kith_cli("social", "posts").output.splitlines()
    assert [cells(line) for line in listed[:4]] == [
        ["ID", "STATUS", "SCHEDULED (UTC)", "TEXT"],
        ["1", "scheduled", "2030-01-02 08:00", "Spring sale starts Monday #spring"],  # 9:00 in Berlin
        ["-> acme (webhook): pending"],
        ["2", "draft", "-", "Half-written"],
    ]
    done = cells(listed[4])
    assert (done[0], done[1], done[3]) == ("3", "done", "Out now")
    assert listed[5:] == ["    -> acme (webhook): failed: this webhook account has no URL to post to (its base_url)"]
    drafts = kith_cli("social", "posts", "--status", "draft").output.splitlines()
    assert [cells(line)[:2] for line in drafts] == [["ID", "STATUS"], ["2", "draft"]]

    # a new key: the old one decrypts while the credentials are encrypted again, then goes
    use_key(monkeypatch, key=(new := Fernet.generate_key().decode()), previous=(KEY,))
    rotated = kith_cli("social", "rotate-key")
    assert (
        rotated.exit_code == 0
        and rotated.output == "Re-encrypted the credentials of 1 account(s) with the current key\n"
    )
    use_key(monkeypatch, key=new)
    again = {"items": [item("t-4", "@acme still here", handle="dee", name="Dee")]}
    assert asyncio.run(deliver(kith_database_url, account, secret, again)) == 202  # the secret still checks


def test_poll_refuses_what_it_cannot_fetch(kith_cli, kith_database_url, monkeypatch):
    use_key(monkeypatch)
    assert kith_cli("plugins", "enable", "social").exit_code == 0
    nothing = kith_cli("social", "poll")
    assert nothing.exit_code == 0
    assert nothing.output == "No connected account to fetch from (webhook accounts are pushed to by their bridge)\n"
    made = kith_cli("social", "connect", "webhook", "--handle", "acme")
    account = re.search(r"account (\d+)", made.output).group(1)
    assert kith_cli("social", "poll").output.startswith("No connected account to fetch from")
    webhook = kith_cli("social", "poll", account)
    assert webhook.exit_code == 1
    assert webhook.output == f"Error: account {account} is a webhook account: its bridge pushes mentions to Kith\n"
    missing = kith_cli("social", "poll", "999")
    assert missing.exit_code == 1 and missing.output == "Error: no social account 999\n"


async def test_poll_fetches_now_and_says_how_many_mentions_were_new(make_kith, kith_cli, monkeypatch):
    use_key(monkeypatch)
    monkeypatch.setenv("KITH_OUTBOUND_ALLOW", "127.0.0.1")
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"])
        context = system_context(kith)
        made, _secret = await accounts.connect(
            context, platform="mastodon", base_url=server.url, secrets={"access_token": server.token}
        )
        await accounts.connect(context, platform="webhook", handle="bridge")  # pushed to: not polled
        await make_contact(kith, first_name="Ann", emails=["ann@example.com"])
        server.mention(from_acct="ann@example.social", text="I love the new release, great work!")
        server.mention(from_acct="bob@example.social", text="the app is broken again, terrible")
        handle = made["handle"]

        polled = await asyncio.to_thread(kith_cli, "social", "poll")
        assert polled.exit_code == 0, polled.output
        assert polled.output.splitlines() == [f"{handle} (mastodon): 2 new mention(s)", "Stored 2 new mention(s)"]
        # matched and scored straight away, not left for the worker
        stored = await context.records.list("social_mention", order_by=[{"id": "ASC"}])
        assert [(m["author_handle"], m["state"], m["sentiment_label"]) for m in stored] == [
            ("ann@example.social", "processed", "positive"),
            ("bob@example.social", "processed", "negative"),
        ]
        shown = await asyncio.to_thread(kith_cli, "social", "mentions")
        assert [cells(line)[3] for line in shown.output.splitlines()[1:]] == [
            "@bob@example.social", "@ann@example.social"
        ]  # fmt: skip
        again = await asyncio.to_thread(kith_cli, "social", "poll", str(made["id"]))
        assert again.output.splitlines() == [f"{handle} (mastodon): 0 new mention(s)", "Stored 0 new mention(s)"]
        listed = await asyncio.to_thread(kith_cli, "social", "accounts")
        row = cells(listed.output.splitlines()[1])
        assert row[:5] == [str(made["id"]), "mastodon", handle, "connected", "UTC"] and row[5] != "-"

        server.revoke_token()
        refused = await asyncio.to_thread(kith_cli, "social", "poll")
        assert refused.exit_code == 1
        lines = refused.output.splitlines()
        assert lines[0].startswith(f"{handle} (mastodon): not fetched: reconnect_needed: ")
        assert lines[1:] == ["Stored 0 new mention(s)", "Error: 1 account(s) could not be fetched"]
        listed = await asyncio.to_thread(kith_cli, "social", "accounts")
        assert cells(listed.output.splitlines()[1])[3] == "reconnect_needed"
        waiting = await asyncio.to_thread(kith_cli, "social", "poll", str(made["id"]))
        assert waiting.exit_code == 1 and waiting.output.startswith(f"Error: account {made['id']} is reconnect_needed")


def test_the_demo_in_production_without_a_key_has_mentions_and_drafts_and_says_why_no_account(kith_cli, monkeypatch):
    monkeypatch.setenv("KITH_MODE", "production")
    made = kith_cli("demo", "--no-serve", "--contacts", "20", "--plugin", "social")
    assert made.exit_code == 0, made.output
    said = " ".join(made.output.split())
    assert "0 social_accounts (none: set the credentials_key setting), 12 social_mentions, 3 social_posts" in said
    assert kith_cli("social", "accounts").output.startswith("No social accounts")
    rows = [cells(line) for line in kith_cli("social", "mentions", "--limit", "100").output.splitlines()[1:]]
    assert len(rows) == 12 and {r[2] for r in rows} == {"-"}  # no account
    assert {r[4].split()[0] for r in rows} == {"positive", "neutral", "negative"}
    assert len({r[3] for r in rows}) >= 5  # a few people
    listed = kith_cli("social", "posts").output.splitlines()
    assert [cells(line)[1:3] for line in listed[1:]] == [["draft", "-"]] * 3


def test_the_demo_with_a_key_has_a_webhook_account_and_posts_scheduled_far_ahead(
    kith_cli, kith_database_url, monkeypatch
):
    use_key(monkeypatch)
    made = kith_cli("demo", "--no-serve", "--contacts", "20", "--plugin", "social")
    assert made.exit_code == 0, made.output
    assert "1 social_accounts, 12 social_mentions, 3 social_posts" in " ".join(made.output.split())
    (account,) = [cells(line) for line in kith_cli("social", "accounts").output.splitlines()[1:]]
    assert account[1:5] == ["webhook", "acme", "connected", "UTC"]
    rows = [cells(line) for line in kith_cli("social", "mentions", "--limit", "100").output.splitlines()[1:]]
    assert len(rows) == 12 and {r[2] for r in rows} == {"acme (webhook)"}
    listed = kith_cli("social", "posts").output.splitlines()
    assert [cells(line)[1] for line in listed[1:] if not line.startswith(" ")] == ["draft", "scheduled", "scheduled"]
    half_a_year = (dt.datetime.now(dt.UTC) + dt.timedelta(days=180)).strftime("%Y-%m-%d")
    scheduled = [cells(line)[2] for line in listed[1:] if " scheduled " in line]
    assert len(scheduled) == 2 and all(day > half_a_year for day in scheduled)  # nothing goes out for now
    assert listed.count("    -> acme (webhook): pending") == 2

    async def found() -> tuple[list[tuple[str, str]], int, int]:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            records = system_context(kith).records
            identities = await records.list("social_identity", order_by=[{"id": "ASC"}])
            threaded = await records.count("social_mention", {"parentId": {"isNull": False}})
            on_timeline = await records.count("activity", {"kind": {"eq": "social_mention"}})
            return [(i["handle"], i["matched_by"]) for i in identities], threaded, on_timeline
        finally:
            await kith.close()

    identities, threaded, on_timeline = asyncio.run(found())
    matched = [handle for handle, how in identities if how == "email"]
    assert len(matched) == 3 and {how for _, how in identities} == {"email", "created"}  # demo contacts and new people
    assert threaded == 2 and on_timeline == 12  # a thread with replies; every mention on its author's timeline

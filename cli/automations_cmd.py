"""``kith automations …``, ``kith webhooks …`` and ``kith worker``."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import click
import yaml
from rich.table import Table

from kith.cli.common import KithCliError, console, open_kith, run, with_kith
from kith.core.automations import service, webhooks
from kith.core.automations.worker import Worker
from kith.core.runtime import Kith


def _load_file(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = list(yaml.safe_load_all(text))
            data = data[0] if len(data) == 1 else data
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise KithCliError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    rules = data if isinstance(data, list) else [data]
    if not all(isinstance(rule, dict) for rule in rules):
        raise KithCliError(f"{path}: expected a rule (a mapping) or a list of rules")
    return rules


def _rule_or_file(rule: str) -> str | dict[str, Any]:
    """A rule name, or the first rule of a YAML/JSON file (to try a rule before saving it)."""
    path = Path(rule)
    return _load_file(path)[0] if path.is_file() else rule


@click.group("automations")
def automations_group() -> None:
    """Automation rules: apply, list, enable, disable, dry-run, run, and the failed list."""


@automations_group.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_kith
async def apply_rules(kith: Kith, files: tuple[Path, ...]) -> None:
    """Create or replace rules from YAML or JSON FILES (all or nothing per rule)."""
    for path in files:
        for raw in _load_file(path):
            try:
                rule, created = await service.apply_rule(kith, raw)
            except Exception as exc:
                name = raw.get("name", "?")
                raise KithCliError(f"{path}: rule {name}: {exc}") from None
            state = "enabled" if rule.definition.enabled else "disabled"
            console.print(f"[green]{'Created' if created else 'Updated'}[/] {rule.name} ({state})")


@automations_group.command("list")
@with_kith
async def list_rules(kith: Kith) -> None:
    """List rules with their trigger and state."""
    table = Table("name", "trigger", "enabled", "source", "version", "description", title="Automation rules")
    for info in await service.list_rules(kith):
        table.add_row(
            info.name,
            info.trigger,
            "[green]yes[/]" if info.enabled else "no",
            info.source,
            str(info.version),
            info.description,
        )
    console.print(table)


@automations_group.command("show")
@click.argument("name")
@with_kith
async def show_rule(kith: Kith, name: str) -> None:
    """Print a rule's definition as YAML."""
    info = await service.get_rule(kith, name)
    order = ["name", "description", "enabled", "trigger", "conditions", "actions"]
    ordered = {key: info.definition[key] for key in order if key in info.definition}
    click.echo(yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True), nl=False)


@automations_group.command("enable")
@click.argument("name")
@with_kith
async def enable_rule(kith: Kith, name: str) -> None:
    """Enable a rule (checked again against today's fields first)."""
    await service.set_enabled(kith, name, True)
    console.print(f"Enabled {name}")


@automations_group.command("disable")
@click.argument("name")
@with_kith
async def disable_rule(kith: Kith, name: str) -> None:
    """Disable a rule; queued runs of it are dropped when they come up."""
    await service.set_enabled(kith, name, False)
    console.print(f"Disabled {name}")


@automations_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_kith
async def delete_rule(kith: Kith, name: str, yes: bool) -> None:
    """Delete a rule (its past runs stay in the record)."""
    await service.get_rule(kith, name)
    if not yes and not click.confirm(f"Delete rule {name}?", default=False):
        raise KithCliError("cancelled; nothing was changed")
    await service.delete_rule(kith, name)
    console.print(f"Deleted {name}")


@automations_group.command("dry-run")
@click.argument("rule")
@click.option("--limit", default=20, show_default=True, help="How many matching records to show.")
@with_kith
async def dry_run(kith: Kith, rule: str, limit: int) -> None:
    """Show which existing records RULE (a name or a YAML/JSON file) matches and what it would do.

    Nothing is changed.  A rule with run_as is shown as it would run: only that user's
    records, with the fields hidden from them empty.
    """
    target = _rule_or_file(rule)
    definition = target if isinstance(target, dict) else (await service.get_rule(kith, target)).definition
    total, items = await service.dry_run(kith, target, limit)
    if definition.get("run_as"):
        console.print(f"As {definition['run_as']} would see it (run_as):")
    console.print(f"{total} record(s) match; showing {len(items)}:")
    for item in items:
        console.print(f"[bold]{item.label}[/] (id {item.record_id})" if item.record_id else f"[bold]{item.label}[/]")
        for line in item.actions:
            console.print(f"  - {line}")


@automations_group.command("run")
@click.argument("name")
@click.option("--record", "records", multiple=True, type=int, help="Run on this record id (repeat).")
@click.option("--filter", "filter_", help="Run on every record matching this filter (JSON).")
@with_kith
async def run_rule(kith: Kith, name: str, records: tuple[int, ...], filter_: str | None) -> None:
    """Queue RULE now on records (by id or filter); the worker runs it."""
    conditions = None
    if filter_:
        try:
            conditions = json.loads(filter_)
        except json.JSONDecodeError as exc:
            raise KithCliError(f"--filter: not JSON: {exc}") from None
    queued = await service.run_on(kith, name, list(records), conditions)
    console.print(f"Queued {name} on {queued} record(s)")


@automations_group.command("runs")
@click.option("--rule", help="Only this rule.")
@click.option("--record", type=int, help="Only this record.")
@click.option("--limit", default=20, show_default=True)
@with_kith
async def list_runs(kith: Kith, rule: str | None, record: int | None, limit: int) -> None:
    """Recent runs: rule, record, outcome, error and duration."""
    table = Table("id", "rule", "record", "attempt", "status", "ms", "actions / error", title="Automation runs")
    for item in await service.runs(kith, rule, record, limit):
        detail = item["error"] or "; ".join(
            f"{a.get('action')}: {'ok' if 'done' in a else 'already done' if 'already_done' in a else a}"
            for a in item["actions"]
        )
        target = f"{item['entity']} {item['record_id']}" if item["record_id"] else "-"
        table.add_row(
            str(item["id"]),
            item["rule"],
            target,
            str(item["attempt"]),
            item["status"],
            str(item["duration_ms"]),
            detail,
        )
    console.print(table)


@automations_group.command("failed")
@with_kith
async def list_failed(kith: Kith) -> None:
    """The dead-letter list: jobs that failed every attempt."""
    table = Table("id", "rule", "record", "attempts", "error", title="Failed automation jobs")
    for job in await service.failed_jobs(kith):
        target = f"{job.entity} {job.record_id}" if job.record_id else "-"
        table.add_row(str(job.id), job.rule or "-", target, str(job.attempts), job.error)
    console.print(table)


@automations_group.command("retry")
@click.argument("job_id", type=int)
@with_kith
async def retry(kith: Kith, job_id: int) -> None:
    """Put a failed job back in the queue, due now."""
    await service.retry_job(kith, job_id)
    console.print(f"Job {job_id} is queued again")


@automations_group.command("discard")
@click.argument("job_id", type=int)
@with_kith
async def discard(kith: Kith, job_id: int) -> None:
    """Drop a failed job for good."""
    await service.discard_job(kith, job_id)
    console.print(f"Job {job_id} discarded")


@click.group("webhooks")
def webhooks_group() -> None:
    """Outbound subscriptions and inbound sources."""


@webhooks_group.command("subscribe")
@click.argument("name")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    default=("*",),
    show_default=True,
    help="Event pattern to send, e.g. contact.* (repeat).",
)
@click.option("--as", "as_user", help="Send only what this user (email) may read: their scope, no hidden fields.")
@with_kith
async def subscribe(kith: Kith, name: str, url: str, events: tuple[str, ...], as_user: str | None) -> None:
    """Send matching events to URL, signed; prints the signing secret once."""
    user_id = None
    if as_user:
        user = await kith.auth.user_by_email(as_user)
        if user is None:
            raise KithCliError(f"no user with email {as_user!r}")
        user_id = int(user["id"])
    secret = await webhooks.add_subscription(kith, name, url, list(events), user_id)
    console.print(f"Subscribed {name} to {', '.join(events)} -> {url}")
    console.print(f"Signing secret (shown once): {secret}")


@webhooks_group.command("unsubscribe")
@click.argument("name")
@with_kith
async def unsubscribe(kith: Kith, name: str) -> None:
    """Remove an outbound subscription."""
    await webhooks.remove_subscription(kith, name)
    console.print(f"Removed {name}")


@webhooks_group.command("add-source")
@click.argument("name")
@with_kith
async def add_source(kith: Kith, name: str) -> None:
    """Accept signed webhooks at /webhooks/NAME; prints the secret to give the sender."""
    secret = await webhooks.add_source(kith, name)
    console.print(f"Inbound source {name}: POST to /webhooks/{name}")
    console.print(f"Signing secret (shown once): {secret}")


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is due, then exit.")
@click.pass_context
def worker_command(ctx: click.Context, once: bool) -> None:
    """Run an automation worker (any number can run against PostgreSQL)."""

    async def body() -> int:
        async with open_kith(ctx) as kith:
            worker = Worker(kith)
            if once:
                return await worker.run_until_idle()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print(f"Worker {worker.name} on {kith.db.display_url} (Ctrl-C to stop)")
            await worker.run_forever(stop)
            return worker.processed

    processed = run(body())
    console.print(f"Processed {processed} event(s)")

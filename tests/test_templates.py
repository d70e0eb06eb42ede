"""Rule templates cannot stall the server: they render in a child process under time,
output and memory limits; a template over a limit fails its run with an error naming
the limit, and the API keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os

import pytest
import pytest_asyncio

from kith.core.automations import service
from kith.core.automations.rendering import TemplateRenderer
from kith.core.automations.sandbox import is_substitution
from kith.core.automations.templates import TemplateLimitExceeded, TemplateProblem
from kith.core.automations.worker import Worker
from kith.core.errors import ValidationFailed
from kith.core.settings import load_settings
from kith.sdk.testing import GraphQLClient, make_contact

#: ten billion empty iterations: hours of work if nothing stopped it
SPIN = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
CONTEXT = {"record": {"first_name": "Ann", "title": None, "n": 3}, "event": {}, "rule": "r"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest_asyncio.fixture
async def renderer():
    renderer = TemplateRenderer(load_settings(template_timeout_seconds=0.5, template_max_output_bytes=4096))
    yield renderer
    await renderer.close()


async def only_run(kith, rule: str) -> dict:
    [run] = await service.runs(kith, rule)
    return run


# -- in a rule, through the worker, on both engines ----------------------------------------------


async def test_a_looping_template_fails_its_run_at_the_time_limit_and_its_process_is_replaced(make_kith):
    kith = await make_kith(template_timeout_seconds=0.5, automation_max_attempts=1)
    await kith.templates.render("{% if 1 %}warm{% endif %}", {})  # a child process, started
    [before] = kith.templates.pids
    await service.apply_rule(kith, {
        "name": "spin", "enabled": True, "trigger": {"event": "contact.created"},
        "actions": [{"update_fields": {"values": {"title": SPIN}}}],
    })  # fmt: skip
    ann = await make_contact(kith, first_name="Ann")
    await Worker(kith).run_until_idle()

    run = await only_run(kith, "spin")
    assert run["status"] == "dead"
    assert "was stopped after 0.5 s: it ran longer than template_timeout_seconds allows" in run["error"]
    [job] = await service.failed_jobs(kith)
    assert job.rule == "spin" and "template_timeout_seconds" in job.error
    assert (await kith.records.get("contact", ann["id"]))["title"] is None
    # stopped, not left running: the process that rendered it is gone
    assert not alive(before)
    assert kith.templates.pids == []
    assert await kith.templates.render("{% if 1 %}again{% endif %}", {}) == "again"
    [after] = kith.templates.pids
    assert after != before


async def test_output_over_the_limit_fails_the_run_with_the_size_error(make_kith):
    kith = await make_kith(template_max_output_bytes=2048, automation_max_attempts=1)
    await service.apply_rule(kith, {
        "name": "chatty", "enabled": True, "trigger": {"event": "contact.created"},
        "actions": [{"update_fields": {"values": {"title": "{% for i in range(100000) %}xx{% endfor %}"}}}],
    })  # fmt: skip
    await make_contact(kith, first_name="Ann")
    await Worker(kith).run_until_idle()
    run = await only_run(kith, "chatty")
    assert run["status"] == "dead"
    assert "TemplateLimitExceeded" in run["error"]
    assert "its output passed template_max_output_bytes (2048 bytes)" in run["error"]


async def test_a_huge_operation_in_a_rule_is_refused_with_a_clear_error(make_kith):
    kith = await make_kith(automation_max_attempts=1)
    await service.apply_rule(kith, {
        "name": "huge", "enabled": True, "trigger": {"event": "contact.created"},
        "actions": [{"add_tag": {"tag": '{{ "x" * 10**9 }}'}}],
    })  # fmt: skip
    ann = await make_contact(kith, first_name="Ann")
    await Worker(kith).run_until_idle()
    run = await only_run(kith, "huge")
    assert run["status"] == "dead"
    assert "'*' would build a value of 1000000000 items, more than template_max_output_bytes" in run["error"]
    assert (await kith.records.get("contact", ann["id"]))["tags"] in (None, [])


async def test_ordinary_templates_still_render_in_rules(make_kith):
    kith = await make_kith()
    await service.apply_rule(kith, {
        "name": "follow-up", "enabled": True, "trigger": {"event": "contact.created"},
        "actions": [
            {"create_record": {"entity": "activity", "values": {
                "kind": "task", "subject": "Call {{ record.first_name }} ({{ record.title | lower }})",
                "subjectType": "contact", "subjectId": "{{ record.id }}", "dueAt": "{{ in_days(3) }}"}}},
            {"add_tag": {"tag": "{% if record.city %}in-{{ record.city | lower }}{% else %}nowhere{% endif %}"}},
        ],
    })  # fmt: skip
    ann = await make_contact(kith, first_name="Ann", title="CEO", city="Lyon")
    await Worker(kith).run_until_idle()
    assert (await only_run(kith, "follow-up"))["status"] == "succeeded"
    [task] = await kith.db.execute("SELECT subject, due_at FROM activity WHERE subject_id = {}", ann["id"])
    assert task["subject"] == "Call Ann (ceo)"
    due = task["due_at"] if isinstance(task["due_at"], dt.datetime) else dt.datetime.fromisoformat(task["due_at"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    assert abs((due.replace(tzinfo=due.tzinfo or dt.UTC) - expected).total_seconds()) < 300
    assert (await kith.records.get("contact", ann["id"]))["tags"] == ["in-lyon"]


async def test_an_undefined_name_fails_the_run_naming_the_template_and_the_name(make_kith):
    kith = await make_kith(automation_max_attempts=1)
    await service.apply_rule(kith, {
        "name": "typo", "enabled": True, "trigger": {"event": "contact.created"},
        "actions": [{"update_fields": {"values": {"title": "{{ record.nickname }}"}}},
                    {"add_tag": {"tag": "{% if record.nickname %}x{% endif %}"}}],
    })  # fmt: skip
    await make_contact(kith, first_name="Ann")
    await Worker(kith).run_until_idle()
    run = await only_run(kith, "typo")
    assert run["status"] == "dead"
    assert run["error"] == (
        "TemplateProblem: template '{{ record.nickname }}' failed: 'dict object' has no attribute 'nickname'"
    )


async def test_a_looping_template_in_conditions_is_refused_when_the_rule_is_saved(make_kith):
    kith = await make_kith(template_timeout_seconds=0.5)
    with pytest.raises(ValidationFailed) as refused:
        await service.apply_rule(kith, {
            "name": "slow-conditions", "enabled": True, "trigger": {"event": "contact.updated"},
            "conditions": {"title": {"eq": SPIN + "x"}},
            "actions": [{"add_tag": {"tag": "x"}}],
        })  # fmt: skip
    [error] = refused.value.errors
    assert error.field == "conditions"
    assert "template_timeout_seconds" in error.message
    assert await service.list_rules(kith) == []


async def test_a_dry_run_shows_a_template_over_its_limit_as_would_fail(make_kith):
    kith = await make_kith(template_timeout_seconds=0.5)
    await service.apply_rule(kith, {
        "name": "spin", "trigger": {"event": "contact.updated"},
        "actions": [{"add_tag": {"tag": "{{ record.first_name }}"}}, {"update_fields": {"values": {"title": SPIN}}}],
    })  # fmt: skip
    await make_contact(kith, first_name="Ann")
    total, [item] = await service.dry_run(kith, "spin")
    assert total == 1
    assert item.actions[0] == f"add tag 'Ann' to contact {item.record_id}"
    assert item.actions[1].startswith("update_fields: would fail: template ")
    assert "template_timeout_seconds" in item.actions[1]


async def test_the_api_answers_while_a_template_renders(make_kith):
    """A functional check, not a timing one: GraphQL requests, a read and a write, are
    answered while the worker's render is still in flight (an in-loop render, or one
    inside the action's write transaction, would answer them only after).  The render's
    limit is far beyond the requests' patience, so a loaded machine cannot turn this
    into a race; the render is then cancelled (its process killed), not waited for —
    the limit itself is the subject of the tests above."""
    kith = await make_kith(template_timeout_seconds=60.0, automation_max_attempts=1)
    await service.apply_rule(kith, {
        "name": "spin", "enabled": True, "trigger": {"event": "contact.created"},
        "actions": [{"update_fields": {"values": {"title": SPIN}}}],
    })  # fmt: skip
    ann = await make_contact(kith, first_name="Ann")
    gql = GraphQLClient(kith)
    worker = asyncio.create_task(Worker(kith).run_until_idle())
    try:
        for _ in range(400):  # until the render is waiting on its child (the child may take a while to start)
            if kith.templates.busy:
                break
            await asyncio.sleep(0.025)
        assert kith.templates.busy == 1
        data = await asyncio.wait_for(gql.query("{ contacts(first: 5) { totalCount } }"), timeout=30)
        assert data["contacts"]["totalCount"] == 1
        # a write too: the render happens before the action's write transaction, so it
        # holds no lock (on SQLite that would be the whole database's write lock)
        update = 'mutation($id: ID!) { updateContact(id: $id, input: {city: "Lyon"}) { errors { message } } }'
        written = await asyncio.wait_for(gql.query(update, id=str(ann["id"])), timeout=30)
        assert written["updateContact"]["errors"] == []
        assert kith.templates.busy == 1 and not worker.done()  # answered while the render ran
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert kith.templates.busy == 0  # the cancelled render's process is gone


# -- the renderer itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        '{{ "x" * 10**9 }}',
        "{{ [0] * 10**9 }}",
        "{{ 10**9 * [0] }}",
        "{{ 2 ** 100000 }}",
        "{{ (10 ** 4000) * (10 ** 4000) }}",
        '{{ "%999999999d" % 1 }}',
        '{{ "%*d" % (999999999, 1) }}',
        '{{ "{:>999999999}".format(1) }}',
        '{{ "%999999999d" | format(1) }}',
        '{% set s = "x" * 4000 %}{{ s + s }}',
    ],
)
async def test_huge_operations_are_refused_before_they_run(renderer, template):
    await renderer.render("{% if 1 %}warm{% endif %}", {})
    [pid] = renderer.pids
    with pytest.raises(TemplateLimitExceeded) as refused:
        await renderer.render(template, CONTEXT)
    assert refused.value.limit == "template_max_output_bytes"
    assert str(refused.value).startswith(f"template {template!r} refused: ")
    assert renderer.pids == [pid]  # refused in the sandbox: the process was not killed


async def test_a_template_that_allocates_without_bound_meets_the_memory_limit(renderer):
    await renderer.render("{% if 1 %}warm{% endif %}", {})
    [pid] = renderer.pids
    # each operand is small; the result of the second replace would be 64 GB
    exploding = '{{ ("x" * 4000) | replace("", "y" * 4000) | replace("y", "z" * 4000) | length }}'
    with pytest.raises(TemplateLimitExceeded) as refused:
        await renderer.render(exploding, {})
    assert refused.value.limit == "template_max_memory_mb"
    assert "needed more memory than template_max_memory_mb (256) allows" in str(refused.value)
    assert not alive(pid)  # a process that ran out of memory is not reused
    assert await renderer.render("{% if 1 %}fine{% endif %}", {}) == "fine"


async def test_output_is_limited_for_plain_substitutions_too(renderer):
    long = {"record": {"notes": "x" * 5000}}
    with pytest.raises(TemplateLimitExceeded) as refused:
        await renderer.render({"a": "{{ record.notes }}"}, long)
    assert refused.value.limit == "template_max_output_bytes"
    # the limit is for all the templates of one value together
    with pytest.raises(TemplateLimitExceeded):
        await renderer.render(["{{ record.a }}", "{% if 1 %}{{ record.b }}{% endif %}"],
                              {"record": {"a": "x" * 3000, "b": "y" * 3000}})  # fmt: skip
    assert renderer.pids  # neither went over time: no process was killed


async def test_ordinary_templates_render_with_helpers_and_clear_errors(renderer):
    value = {
        "greeting": "Hi {{ record.first_name }}",
        "items": ["{% for i in range(record.n) %}{{ i }}{% endfor %}", 7, None],
        "due": "{{ in_days(2) }}",
        "soon": "{{ in_hours(-1) }}",
        "stamp": "{{ now() }}",
        "plain": "no template",
    }
    out = await renderer.render(value, CONTEXT)
    assert out["greeting"] == "Hi Ann"
    assert out["items"] == ["012", 7, None]
    assert out["plain"] == "no template"
    now = dt.datetime.now(dt.UTC)
    assert abs((dt.datetime.fromisoformat(out["due"]) - now - dt.timedelta(days=2)).total_seconds()) < 60
    assert abs((dt.datetime.fromisoformat(out["soon"]) - now + dt.timedelta(hours=1)).total_seconds()) < 60
    assert abs((dt.datetime.fromisoformat(out["stamp"]) - now).total_seconds()) < 60
    with pytest.raises(TemplateProblem, match=r"^template '\{\{ record.nope \}\}' failed: 'dict object' has no attribute 'nope'$"):  # fmt: skip
        await renderer.render("{{ record.nope }}", CONTEXT)
    with pytest.raises(TemplateProblem, match=r"failed: 'dict object' has no attribute 'nope'$"):
        await renderer.render("{% if record.nope %}x{% endif %}", CONTEXT)
    with pytest.raises(TemplateProblem, match="failed: ZeroDivisionError: division by zero"):
        await renderer.render("{{ record.n / 0 }}", CONTEXT)
    with pytest.raises(TemplateProblem, match="access to attribute '__class__'"):
        await renderer.render("{{ record.__class__ }}", CONTEXT)


async def test_a_timeout_kills_the_process_and_the_next_render_gets_a_fresh_one(renderer):
    await renderer.render("{% if 1 %}warm{% endif %}", {})
    [pid] = renderer.pids
    with pytest.raises(TemplateLimitExceeded) as stopped:
        await renderer.render({"title": SPIN}, {})
    assert stopped.value.limit == "template_timeout_seconds"
    assert str(stopped.value) == (
        f"template {SPIN!r} was stopped after 0.5 s: it ran longer than template_timeout_seconds allows"
    )
    assert not alive(pid)
    assert await renderer.render("{% if 1 %}{{ record.first_name }}{% endif %}", CONTEXT) == "Ann"
    assert renderer.pids and renderer.pids != [pid]


async def test_a_cancelled_render_kills_its_process(renderer):
    task = asyncio.create_task(renderer.render(SPIN, {}))
    for _ in range(400):
        if renderer.busy:
            break
        await asyncio.sleep(0.025)
    [pid] = renderer.pids
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)  # its answer would otherwise arrive for the next request
    assert await renderer.render("{% if 1 %}ok{% endif %}", {}) == "ok"


async def test_concurrent_renders_each_get_their_own_answer(renderer):
    contexts = [{"record": {"n": n}} for n in range(8)]
    template = "{% for i in range(record.n) %}{{ i }}{% endfor %}"
    answers = await asyncio.gather(*(renderer.render(template, c) for c in contexts))
    assert answers == ["".join(str(i) for i in range(n)) for n in range(8)]
    assert len(renderer.pids) <= 2  # template_processes


async def test_a_slow_render_does_not_hold_up_others_beyond_the_pool(renderer):
    slow = asyncio.create_task(renderer.render(SPIN, {}))
    quick = await asyncio.wait_for(renderer.render("{% if 1 %}quick{% endif %}", {}), timeout=10)
    assert quick == "quick" and not slow.done()  # the second process answered
    with pytest.raises(TemplateLimitExceeded):
        await slow


async def test_close_stops_every_process():
    renderer = TemplateRenderer(load_settings())
    await asyncio.gather(*(renderer.render("{% if 1 %}x{% endif %}", {}) for _ in range(2)))
    pids = renderer.pids
    assert pids
    await renderer.close()
    assert renderer.pids == [] and not any(alive(pid) for pid in pids)


@pytest.mark.parametrize(
    ("template", "plain"),
    [
        ("Hello {{ record.first_name }}", True),
        ("{{ record.id }}", True),
        ('{{ record["custom"]["tier"] }} and {{ event.data.to }}', True),
        ("{{ in_days(3) }}", True),
        ("{{ in_days(-14) }}", True),
        ("{{ in_hours(2.5) }} {{ now() }}", True),
        ("{{ record.first_name | upper }}", False),
        ("{{ record.n * 2 }}", False),
        ("{{ in_days(record.n) }}", False),
        ("{{ in_days(days=3) }}", False),
        ("{{ record.items() }}", False),
        ("{{ range(10) }}", False),
        ("{{ now }}", True),  # named, not called
        ("{{ range(10) | list }}", False),
        ("{% for i in record %}{% endfor %}", False),
        ("{% if record.x %}{% endif %}", False),
        ("{{ record[record.key] }}", True),
        ("{{ record.name[1:] }}", False),
        ("{{ 'a' ~ record.b }}", False),
        ("{% set x = 1 %}{{ x }}", False),
        ("{{ record.x", False),
    ],
)
def test_which_templates_are_plain_substitutions(template, plain):
    assert is_substitution(template) is plain

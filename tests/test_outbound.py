"""Outbound requests (webhooks, and whatever plugins send) cannot reach inside: internal
addresses are refused on the address actually connected to, unless ``outbound_allow``
names them."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kith.core.automations import service, webhooks
from kith.core.automations.worker import Worker
from kith.core.errors import KithError, ValidationFailed
from kith.core.security import outbound
from kith.core.security.outbound import OutboundRefused, check_outbound_url, outbound_client
from kith.core.settings import load_settings
from kith.sdk.testing import make_contact


@pytest.fixture
def server() -> Iterator[dict[str, Any]]:
    """A local HTTP server answering 200 and recording each request's Host header."""
    seen: dict[str, Any] = {"hosts": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            seen["hosts"].append(self.headers.get("host"))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    seen["port"] = httpd.server_address[1]
    try:
        yield seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("[::1]", "::1 is a loopback address"),
        ("10.1.2.3", "10.1.2.3 is a private address"),
        ("172.16.5.4", "172.16.5.4 is a private address"),
        ("192.168.1.1", "192.168.1.1 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address (the cloud metadata service)"),
        ("100.64.0.1", "100.64.0.1 is a shared (CGNAT) address"),
        ("[fd12::1]", "fd12::1 is a unique-local address"),
        ("[fe80::1]", "fe80::1 is a link-local address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 (::ffff:7f00:1) is a loopback address (IPv6 form of 127.0.0.1)"),
        ("[::ffff:169.254.169.254]", "(IPv6 form of 169.254.169.254)"),
        ("2130706433", "2130706433 (127.0.0.1) is a loopback address"),
        ("localhost", "localhost (127.0.0.1) is a loopback address"),
    ],
)
async def test_internal_addresses_are_refused_when_connecting(host: str, message: str, server: dict[str, Any]) -> None:
    with pytest.raises(OutboundRefused) as refused:
        async with outbound_client(load_settings()) as client:
            await client.post(f"http://{host}:{server['port']}/hook", content=b"{}")
    assert message in str(refused.value) and str(refused.value).endswith("allow it with outbound_allow")
    assert server["hosts"] == []  # nothing reached the server


async def test_a_name_is_checked_on_the_address_it_resolves_to_and_connected_there(
    server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"hooks.partner.test": ["93.184.215.14", "127.0.0.1"]}  # one public, one internal

    async def resolve(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(outbound, "resolve", resolve)
    url = f"http://hooks.partner.test:{server['port']}/hook"
    with pytest.raises(OutboundRefused, match=r"hooks.partner.test \(127.0.0.1\) is a loopback address"):
        async with outbound_client() as client:
            await client.post(url)
    # allowed by network: the connection goes to the address that was checked, and the
    # request still names the host (Host header; SNI for https)
    answers["hooks.partner.test"] = ["127.0.0.1"]
    async with outbound_client(["127.0.0.0/8"]) as client:
        assert (await client.post(url)).status_code == 200
    assert server["hosts"] == [f"hooks.partner.test:{server['port']}"]


async def test_the_allow_list_names_hosts_and_networks(server: dict[str, Any]) -> None:
    for allow in (["127.0.0.1"], ["127.0.0.0/8"], ["localhost"]):
        async with outbound_client(allow) as client:
            host = "localhost" if allow == ["localhost"] else "127.0.0.1"
            assert (await client.get(f"http://{host}:{server['port']}/")).status_code == 200
    with pytest.raises(OutboundRefused):  # a name on the list allows that name, not the address
        async with outbound_client(["localhost"]) as client:
            await client.get(f"http://127.0.0.1:{server['port']}/")
    with pytest.raises(KithError, match=r"outbound_allow.*'not a host!' is neither a host name nor an address"):
        load_settings(outbound_allow="127.0.0.1,not a host!")
    assert load_settings(outbound_allow="127.0.0.1, hooks.internal").outbound_allow == ["127.0.0.1", "hooks.internal"]


def test_urls_with_a_literal_internal_address_are_refused_early() -> None:
    check_outbound_url("https://hooks.example.com/x")  # names are checked when resolved
    check_outbound_url("http://127.0.0.1:9000/x", ["127.0.0.1"])
    with pytest.raises(OutboundRefused, match=r"^refused: 169.254.169.254 is a link-local address"):
        check_outbound_url("http://169.254.169.254/latest/meta-data/")


async def test_a_public_address_is_not_refused_by_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard lets a public address through to the connection (which fails here: no network)."""
    backend = outbound.GuardedBackend(outbound.outbound_policy())
    connected: list[str] = []

    async def connect_tcp(host: str, port: int, *args: Any) -> Any:
        connected.append(host)
        raise OSError("no network in tests")

    monkeypatch.setattr(backend.inner, "connect_tcp", connect_tcp)
    with pytest.raises(OSError):
        await backend.connect_tcp("93.184.215.14", 443)
    assert connected == ["93.184.215.14"]


# -- webhooks: subscriptions and the send_webhook action -----------------------------------------


async def test_a_subscription_to_an_internal_address_is_refused_when_made(kith: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await webhooks.add_subscription(kith, "meta", "http://169.254.169.254/latest", ["contact.*"])
    (error,) = refused.value.errors
    assert (error.field, error.code) == ("url", "refused")
    assert error.message == (
        "refused: 169.254.169.254 is a link-local address (the cloud metadata service); allow it with outbound_allow"
    )


async def test_a_rule_posting_to_an_internal_address_is_refused_when_saved(kith: Any) -> None:
    rule = {
        "name": "leak",
        "trigger": {"event": "contact.created"},
        "actions": [{"send_webhook": {"url": "http://10.0.0.5/x", "secret": webhooks.new_secret()}}],
    }
    with pytest.raises(ValidationFailed) as refused:
        await service.apply_rule(kith, rule)
    assert [(e.field, e.code) for e in refused.value.errors] == [("actions[0].url", "refused")]


async def test_a_delivery_to_a_name_resolving_inside_fails_the_run_with_the_reason(
    make_kith: Any, server: dict[str, Any]
) -> None:
    kith = await make_kith(automation_max_attempts=1)
    url = f"http://localhost:{server['port']}/hook"  # a name: accepted when saved, refused when resolved
    await webhooks.add_subscription(kith, "local", url, ["contact.*"])
    rule = {
        "name": "post-it",
        "enabled": True,
        "trigger": {"event": "contact.created"},
        "actions": [{"send_webhook": {"url": url, "secret": webhooks.new_secret()}}],
    }
    await service.apply_rule(kith, rule)
    await make_contact(kith)
    await Worker(kith).run_until_idle()
    reason = f"{url}: refused: localhost (127.0.0.1) is a loopback address; allow it with outbound_allow"
    dead = await kith.db.execute("SELECT last_error FROM kith_outbox WHERE status = 'dead' ORDER BY id")
    assert sorted(r["last_error"] for r in dead) == sorted([reason, f"DeliveryFailed: {reason}"])
    runs = await kith.db.execute("SELECT status, error FROM kith_automation_run WHERE rule = 'post-it'")
    assert [(r["status"], r["error"]) for r in runs] == [("dead", f"DeliveryFailed: {reason}")]
    assert server["hosts"] == []


async def test_a_delivery_to_an_allowed_local_server_still_works(make_kith: Any, server: dict[str, Any]) -> None:
    kith = await make_kith(outbound_allow=["localhost"])
    await webhooks.add_subscription(kith, "local", f"http://localhost:{server['port']}/hook", ["contact.*"])
    await make_contact(kith)
    await Worker(kith).run_until_idle()
    assert server["hosts"] == [f"localhost:{server['port']}"]


async def test_environment_proxies_are_not_used(monkeypatch: pytest.MonkeyPatch, server: dict[str, Any]) -> None:
    """A proxy would fetch whatever it is asked on our behalf, past the guard."""
    monkeypatch.setenv("HTTP_PROXY", "http://203.0.113.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://203.0.113.1:3128")
    async with outbound_client(["127.0.0.1"], timeout=httpx.Timeout(5.0)) as client:
        assert (await client.post(f"http://127.0.0.1:{server['port']}/")).status_code == 200

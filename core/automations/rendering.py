"""Rendering rule templates without stalling the server.

Rule templates are written by admins and rendered for every matching event.  Jinja's
sandbox keeps them away from Python internals but not from the CPU:
``{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}``
would hold the event loop, and with it every API request of the process, for hours.

So templates render in a child process (``render_child.py``), and the event loop only
waits for its answer:

* the child is a plain ``python -I`` process started lazily with two pipes, kept for
  the next render (compiled templates stay cached there) and killed when Kith closes;
* a request is written to the pipe and the answer awaited with ``loop.add_reader`` on
  the pipe's descriptor: no thread is tied up and the loop keeps serving;
* past ``template_timeout_seconds`` the child is killed (SIGKILL: a render in a loop
  cannot be interrupted any other way) and the next render starts a fresh one; the
  render raises ``TemplateLimitExceeded`` naming the setting, and the automation run
  fails like any failed action (run history, retry, dead-letter list);
* renders run concurrently on up to ``template_processes`` children, each used by one
  render at a time;
* a template that is a plain substitution (``Hello {{ record.first_name }}``,
  ``{{ in_days(3) }}``: no loop, operator, filter or other call, decided on its parsed
  form by ``sandbox.is_substitution``) does a fixed amount of work, so it is rendered
  in-process; it costs microseconds, where a round trip to the child costs a few
  hundred.  The output limit applies to it all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import subprocess
import sys
import weakref
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError

from kith.core.automations.render_child import READY
from kith.core.automations.sandbox import TemplateLimitError, is_substitution, render_limited
from kith.core.automations.templates import TemplateLimitExceeded, TemplateProblem, substitute, template_strings

if TYPE_CHECKING:
    from kith.core.settings import Settings

log = logging.getLogger("kith.templates")

#: how long a new child may take to start (import Jinja2) before rendering fails
STARTUP_SECONDS = 60.0
_BOOT = (
    "import sys; sys.path[:] = sys.argv[4:]; "
    "from kith.core.automations.render_child import main; "
    "main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
)


class TemplateRenderer:
    """Renders the templates inside a value (a rule's parameters) under the limits of
    ``settings``: time (``template_timeout_seconds``), output
    (``template_max_output_bytes``) and memory (``template_max_memory_mb``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._children: set[_Child] = set()
        self._idle: list[_Child] = []
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        #: renders waiting for a child's answer right now (for tests and diagnostics)
        self.busy = 0

    @property
    def pids(self) -> list[int]:
        """The child processes alive now (for tests and diagnostics)."""
        return sorted(child.pid for child in self._children)

    async def render(self, value: Any, context: dict[str, Any]) -> Any:
        """``value`` with every template inside it rendered; other values unchanged.

        Raises ``TemplateProblem`` for a template that fails (an undefined name, a
        type error…) and ``TemplateLimitExceeded`` for one over a limit.
        """
        texts = template_strings(value)
        if not texts:
            return value
        max_items = self.settings.template_max_output_bytes
        budget = max_items
        rendered: dict[str, str] = {}
        elsewhere: list[str] = []
        for text in texts:
            if is_substitution(text):
                rendered[text] = _render_here(text, context, budget, max_items)
                budget -= len(rendered[text].encode("utf-8", "surrogatepass"))
            else:
                elsewhere.append(text)
        if elsewhere:
            rendered.update(await self._render_in_child(elsewhere, context, budget, max_items))
        return substitute(value, rendered)

    async def close(self) -> None:
        """Stop every child (Kith.close calls this)."""
        children = list(self._children)
        self._children.clear()
        self._idle.clear()
        for child in children:
            child.kill()
        await asyncio.gather(*(asyncio.to_thread(child.reap) for child in children))

    # -- the child processes -----------------------------------------------------------------

    async def _render_in_child(
        self, texts: list[str], context: dict[str, Any], budget: int, max_items: int
    ) -> dict[str, str]:
        try:
            request = pickle.dumps((texts, context, budget, max_items), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TemplateProblem(f"template {_short(texts[0])} cannot be given its values: {exc}") from None
        timeout = self.settings.template_timeout_seconds
        async with self._slots_here():
            child = await self._take()
            keep = False
            self.busy += 1
            try:
                reply = await child.ask(request, timeout, max_reply=8 * max_items + 65536)
            except TimeoutError:
                log.warning("template stopped after %s s, its process %d killed: %s", timeout, child.pid, texts)
                raise TemplateLimitExceeded(
                    f"{_named(texts)} was stopped after {timeout:g} s: it ran longer than "
                    "template_timeout_seconds allows",
                    "template_timeout_seconds",
                ) from None
            except (EOFError, OSError) as exc:
                raise TemplateProblem(
                    f"{_named(texts)} failed: the template process stopped while rendering it ({exc or 'no answer'})"
                ) from None
            else:
                answer = json.loads(reply)
                keep = answer.get("limit") != "memory"
            finally:
                self.busy -= 1
                if keep:
                    self._idle.append(child)
                else:
                    await self._discard(child)
        if "ok" in answer:
            return dict(zip(texts, answer["ok"], strict=True))
        text = _short(texts[int(answer["index"])])
        if answer.get("limit") == "memory":
            memory = self.settings.template_max_memory_mb
            raise TemplateLimitExceeded(
                f"template {text} was stopped: it needed more memory than template_max_memory_mb ({memory}) allows",
                "template_max_memory_mb",
            )
        if answer.get("limit"):
            raise TemplateLimitExceeded(f"template {text} {answer['error']}", str(answer["limit"]))
        raise TemplateProblem(f"template {text} failed: {answer['error']}")

    async def _take(self) -> _Child:
        """An idle child that is still alive, or a new one."""
        while self._idle:
            child = self._idle.pop()
            if child.process.poll() is None:
                return child
            await self._discard(child)  # it died while idle (killed from outside?)
        return await self._start()

    def _slots_here(self) -> asyncio.Semaphore:
        """At most ``template_processes`` renders at once (a semaphore of this loop)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots = asyncio.Semaphore(self.settings.template_processes)
            self._slots_loop = loop
        return self._slots

    async def _start(self) -> _Child:
        child = _Child.spawn(self.settings.template_max_memory_mb * 1024 * 1024)
        self._children.add(child)
        try:
            await child.ready()
        except BaseException:
            await self._discard(child)
            raise
        return child

    async def _discard(self, child: _Child) -> None:
        self._children.discard(child)
        child.kill()
        await asyncio.to_thread(child.reap)


def _render_here(text: str, context: dict[str, Any], budget: int, max_items: int) -> str:
    try:
        return render_limited(text, context, budget, max_items)
    except TemplateLimitError as exc:
        raise TemplateLimitExceeded(f"template {_short(text)} {exc}", exc.limit) from None
    except TemplateError as exc:
        raise TemplateProblem(f"template {_short(text)} failed: {exc}") from None
    except Exception as exc:  # in_days(1e300): OverflowError
        raise TemplateProblem(f"template {_short(text)} failed: {type(exc).__name__}: {exc}") from None


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _named(texts: list[str]) -> str:
    if len(texts) == 1:
        return f"template {_short(texts[0])}"
    return "templates " + ", ".join(_short(t) for t in texts)


class _Child:
    """One child process and its two pipes."""

    def __init__(self, process: subprocess.Popen[bytes], inbox: Connection, outbox: Connection) -> None:
        self.process = process
        self.pid = process.pid
        self.inbox = inbox  # answers from the child
        self.outbox = outbox  # requests to the child
        # a Kith that is never closed must not leave its children behind
        self._finalizer = weakref.finalize(self, _stop, process, inbox, outbox)

    @classmethod
    def spawn(cls, memory_bytes: int) -> _Child:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            arguments = [str(to_child_r), str(from_child_w), str(memory_bytes), *map(str, sys.path)]
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, *arguments],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # one malloc arena: the address-space limit then measures what the
                # template uses, not arenas reserved for the watcher thread
                env={**os.environ, "MALLOC_ARENA_MAX": "1"},
            )
        except BaseException:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise
        os.close(to_child_r)
        os.close(from_child_w)
        return cls(process, Connection(from_child_r, writable=False), Connection(to_child_w, readable=False))

    async def ready(self) -> None:
        if not await _readable(self.inbox, STARTUP_SECONDS):
            raise TemplateProblem(f"the template process did not start within {STARTUP_SECONDS:g} s")
        try:
            greeting = self.inbox.recv_bytes(1024)
        except (EOFError, OSError):
            greeting = b""
        if greeting != READY:
            raise TemplateProblem(f"the template process failed to start (exit code {self.process.poll()})")

    async def ask(self, request: bytes, seconds: float, max_reply: int) -> bytes:
        """Send a request and await its answer; ``TimeoutError`` after ``seconds``."""
        self.outbox.send_bytes(request)  # the child is idle and reading: this does not wait
        if not await _readable(self.inbox, seconds):
            raise TimeoutError
        return self.inbox.recv_bytes(max_reply)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        for conn in (self.inbox, self.outbox):
            with contextlib.suppress(OSError):
                conn.close()

    def reap(self) -> None:
        """Wait for the killed process to be gone (a few milliseconds; run in a thread)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._finalizer.detach()


def _stop(process: subprocess.Popen[bytes], inbox: Connection, outbox: Connection) -> None:
    with contextlib.suppress(OSError):
        process.kill()
    for conn in (inbox, outbox):
        with contextlib.suppress(OSError):
            conn.close()


async def _readable(conn: Connection, seconds: float) -> bool:
    """Wait until ``conn`` has data, without blocking the loop; False after ``seconds``."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    try:
        loop.add_reader(fd, wake)
    except NotImplementedError:  # a loop without readers (Windows' proactor): wait in a thread
        return bool(await loop.run_in_executor(None, conn.poll, seconds))
    try:
        await asyncio.wait_for(ready, seconds)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)

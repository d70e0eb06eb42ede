"""The Jinja2 sandbox rule templates render in, and the limits of one rendering.

The renderer's child process imports this module and nothing else of Kith's, so it
starts in a fraction of a second and holds little memory: keep its imports to the
standard library and Jinja2.

Jinja's own sandbox stops a template from reaching Python internals, but not from
asking for absurd amounts of work or memory.  Here:

* ``*``, ``**``, ``+`` and ``%`` are intercepted and refused before they run when their
  result would be larger than one rendering may output (``"x" * 10**9``,
  ``[0] * 10**9``, ``"%999999999d" % 1``) or a number of more than
  ``MAX_INT_BITS`` bits (``10 ** 10 ** 9``); ``str.format`` and the ``format`` filter
  have their field widths checked the same way;
* output is counted while it streams (``Template.generate``), so a template that
  prints too much is stopped early, not after building it all;
* whatever else allocates too much (``replace`` with a huge string, a namespace
  that doubles in a loop) meets the child's memory limit, and whatever runs too
  long meets the parent's clock (see ``rendering.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: numbers a template may build: about 4,900 decimal digits (Python refuses to print
#: more than 4,300 anyway)
MAX_INT_BITS = 16_384
#: the output limit when none is given (the ``template_max_output_bytes`` default)
DEFAULT_MAX_OUTPUT = 256 * 1024

#: the helpers every template may call
HELPERS = ("in_days", "in_hours", "now")


class TemplateLimitError(Exception):
    """A rendering went over a limit; ``limit`` names the setting that sets it."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


def _days_from_now(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


def in_days(days: float) -> str:
    return _days_from_now(days=days)


def in_hours(hours: float) -> str:
    return _days_from_now(hours=hours)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


_SIZED = (str, bytes, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, refusing operations that would build huge values.

    ``max_items`` is the most characters (or list items) one operation may produce:
    a value longer than the whole output may be is never needed.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, max_items: int = DEFAULT_MAX_OUTPUT) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.max_items = max_items
        self.globals.update(in_days=in_days, in_hours=in_hours, now=now)
        self.filters["format"] = self._format_filter

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self._check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template_text = value.__self__
        sandbox = self

        def checked(*args: Any, **kwargs: Any) -> str:
            sandbox._check_format(template_text, [*args, *kwargs.values()])
            return wrapped(*args, **kwargs)

        return checked

    # -- the checks ---------------------------------------------------------------------

    def _refuse(self, what: str) -> TemplateLimitError:
        return TemplateLimitError(
            f"refused: {what}, more than template_max_output_bytes ({self.max_items}) allows",
            "template_max_output_bytes",
        )

    def _check_binop(self, op: str, left: Any, right: Any) -> None:
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SIZED) and _is_int(times) and len(seq) * times > self.max_items:
                    raise self._refuse(f"'*' would build a value of {len(seq) * times} items")
            if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _too_big_number("*")
        elif op == "**":
            if _is_int(left) and _is_int(right) and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS:
                raise _too_big_number("**")
        elif op == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED) and len(left) + len(right) > self.max_items:
                raise self._refuse(f"'+' would build a value of {len(left) + len(right)} items")
        elif op == "%" and isinstance(left, str):
            values = right.values() if isinstance(right, Mapping) else right if isinstance(right, tuple) else [right]
            self._check_percent(left, values)

    def _check_percent(self, text: str, values: Iterable[Any]) -> None:
        for match in _PERCENT_SPEC.finditer(text):
            for number in match.groups():
                if number == "*":
                    self._check_widths(v for v in values if _is_int(v))
                elif number is not None:
                    self._check_widths([int(number)])

    def _check_format(self, text: str, values: Sequence[Any]) -> None:
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError:
            return  # str.format raises its own clear error
        for _literal, _name, spec, _conversion in fields:
            if spec:
                self._check_widths(int(d) for d in _DIGITS.findall(spec))
                if "{" in spec:  # a nested width, given as an argument
                    self._check_widths(v for v in values if _is_int(v))

    def _check_widths(self, widths: Iterable[int]) -> None:
        for width in widths:
            if width > self.max_items:
                raise self._refuse(f"a field width of {width}")

    def _format_filter(self, value: Any, *args: Any, **kwargs: Any) -> str:
        """The ``format`` filter (``"%s, %s!"|format(greeting, name)``), width-checked."""
        text = str(value)
        values = list(kwargs.values()) if kwargs else list(args)
        self._check_percent(text, values)
        return text % (kwargs or tuple(args))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _too_big_number(op: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"refused: {op!r} would build a number of more than {MAX_INT_BITS} bits", "template_max_output_bytes"
    )


# -- rendering with an output budget ----------------------------------------------------------


@functools.lru_cache(maxsize=8)
def sandbox(max_items: int) -> LimitedSandbox:
    """One sandbox per output limit (a deployment has one)."""
    return LimitedSandbox(max_items)


@functools.lru_cache(maxsize=2048)
def compiled(text: str, max_items: int) -> Template:
    """Templates compiled once: rules render the same few strings for every event, and
    compiling is most of what rendering a small template costs (about a millisecond)."""
    return sandbox(max_items).from_string(text)


def render_limited(text: str, context: Mapping[str, Any], budget: int, max_items: int) -> str:
    """Render ``text``, stopping as soon as its output passes ``budget`` bytes (UTF-8)."""
    parts: list[str] = []
    size = 0
    for chunk in compiled(text, max_items).generate(**context):
        size += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8", "surrogatepass"))
        if size > budget:
            raise TemplateLimitError(
                f"stopped: its output passed template_max_output_bytes ({max_items} bytes)",
                "template_max_output_bytes",
            )
        parts.append(chunk)
    return "".join(parts)


# -- which templates are plain substitutions -----------------------------------------------------

_SUBSTITUTION_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Call,
    nodes.Neg,
    nodes.Pos,
)


@functools.lru_cache(maxsize=2048)
def is_substitution(text: str) -> bool:
    """Is ``text`` only literal text and ``{{ a.b["c"] }}`` look-ups, or calls of the
    helpers with constant arguments (``{{ in_days(-3) }}``)?

    Such a template does a fixed amount of work, set by its own length: no loop, no
    operator, no filter, no call but the three helpers, each a constant-time clock
    read.  Its output is the text of values the caller already holds.  So it is
    rendered in-process without a child process: it cannot run long.  Decided on the
    parsed template (a white-list of node types), never on the text.
    """
    try:
        tree = sandbox(DEFAULT_MAX_OUTPUT).parse(text)
    except Exception:
        return False
    return _bounded(tree)


def _bounded(node: nodes.Node) -> bool:
    if type(node) not in _SUBSTITUTION_NODES:
        return False
    if isinstance(node, nodes.Call):
        helper = node.node
        if not (isinstance(helper, nodes.Name) and helper.name in HELPERS):
            return False
        if node.kwargs or node.dyn_args is not None or node.dyn_kwargs is not None:
            return False
        return all(_constant_number(arg) for arg in node.args)
    if isinstance(node, nodes.Neg | nodes.Pos):
        return _constant_number(node)
    return all(_bounded(child) for child in node.iter_child_nodes())


def _constant_number(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Neg | nodes.Pos):
        return _constant_number(node.node)
    return isinstance(node, nodes.Const) and isinstance(node.value, int | float) and not isinstance(node.value, bool)


__all__ = [
    "HELPERS",
    "LimitedSandbox",
    "TemplateLimitError",
    "is_substitution",
    "render_limited",
    "sandbox",
]

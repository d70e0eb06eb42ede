"""``kith.sdk`` is a documented public API: every name it exports (and every name of
``kith.sdk.testing``) has a docstring of its own and a ``### name`` section in
``docs/sdk.md``, and that page documents no name the SDK does not export.

A class's docstring must be its own (``cls.__dict__["__doc__"]``): not inherited from
``object`` or a base class, and not the signature ``dataclasses`` writes in when a
class has none.  The few exported values that cannot carry a docstring of their own are
listed in ``NO_DOCSTRING`` with the reason; they still need their section.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import kith.sdk
import kith.sdk.testing

SDK_MD = Path(__file__).resolve().parents[1] / "docs" / "sdk.md"
MODULES: tuple[ModuleType, ...] = (kith.sdk, kith.sdk.testing)

#: exported values that cannot have a docstring of their own, and why
NO_DOCSTRING = {
    ("kith.sdk", "hookimpl"): "an instance of pluggy's HookimplMarker; its __doc__ is the class's",
    ("kith.sdk", "hookspec"): "an instance of pluggy's HookspecMarker; its __doc__ is the class's",
    ("kith.sdk", "FIELD_TYPES"): "a dict (custom field type name -> FieldType); a dict has no docstring",
    ("kith.sdk.testing", "ENV_VAR"): "a str constant (the name of an environment variable)",
}

PUBLIC = [(module.__name__, name) for module in MODULES for name in module.__all__]


def own_docstring(obj: Any) -> str:
    """The object's own docstring, or '' when it has none of its own."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(f"{obj.__name__}("):  # written by @dataclass from the signature
            return ""
        return doc.strip()
    if callable(obj):
        doc = getattr(obj, "__doc__", None) or ""
        if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj):
            return doc.strip()
        # an instance that happens to be callable: its __doc__ is its class's
        return "" if doc == (type(obj).__doc__ or "") else doc.strip()
    return ""


def sdk_md_sections() -> list[str]:
    text = re.sub(r"^```.*?^```", "", SDK_MD.read_text(), flags=re.MULTILINE | re.DOTALL)
    return [heading.strip("` ") for heading in re.findall(r"^### (.+?)\s*$", text, re.MULTILINE)]


def test_every_public_name_has_its_own_docstring() -> None:
    missing = []
    for module_name, name in PUBLIC:
        if (module_name, name) in NO_DOCSTRING:
            continue
        obj = getattr(__import__(module_name, fromlist=[name]), name)
        if not own_docstring(obj):
            kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else type(obj).__name__
            missing.append(f"{module_name}.{name} ({kind})")
    assert missing == [], (
        "public SDK names without a docstring of their own (add one where the object is defined; "
        "a value that cannot carry one goes in NO_DOCSTRING with the reason): " + ", ".join(missing)
    )


@pytest.mark.parametrize(("module_name", "name"), sorted(NO_DOCSTRING))
def test_the_exceptions_are_still_exported_and_still_cannot_have_a_docstring(module_name: str, name: str) -> None:
    module = __import__(module_name, fromlist=[name])
    assert name in module.__all__, f"{module_name}.{name} is no longer exported: drop it from NO_DOCSTRING"
    assert not own_docstring(getattr(module, name)), f"{module_name}.{name} has a docstring now: drop the exception"


def test_every_public_name_has_a_section_in_sdk_md() -> None:
    sections = sdk_md_sections()
    missing = [f"{module_name}.{name}" for module_name, name in PUBLIC if name not in sections]
    assert missing == [], "public SDK names without a `### name` section in docs/sdk.md: " + ", ".join(missing)


def test_sdk_md_documents_only_public_names_each_once() -> None:
    sections = sdk_md_sections()
    public = {name for _module, name in PUBLIC}
    unknown = [name for name in sections if name not in public]
    assert unknown == [], "docs/sdk.md has `###` sections for names the SDK does not export: " + ", ".join(unknown)
    twice = sorted({name for name in sections if sections.count(name) > 1})
    assert twice == [], "docs/sdk.md documents these names twice: " + ", ".join(twice)


def test_public_functions_are_typed() -> None:
    untyped = []
    for module_name, name in PUBLIC:
        obj = getattr(__import__(module_name, fromlist=[name]), name)
        if not inspect.isfunction(obj):
            continue
        signature = inspect.signature(obj)
        params = [p for p, v in signature.parameters.items() if v.annotation is inspect.Parameter.empty]
        if params or signature.return_annotation is inspect.Signature.empty:
            untyped.append(f"{module_name}.{name} (unannotated: {', '.join(params) or 'return'})")
    assert untyped == [], "public SDK functions without type annotations: " + ", ".join(untyped)

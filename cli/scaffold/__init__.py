"""``kith plugins new NAME``: a new plugin package that installs, enables and passes its
test as it is, so an author starts from something that works and changes it.

The templates are Jinja2 files next to this module (flat names; ``TEMPLATES`` says where
each one goes), rendered with the plugin's names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from kith.core import __version__

NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

#: template -> path in the new project ({package} and {name} are filled in)
TEMPLATES = {
    "pyproject.toml.jinja2": "pyproject.toml",
    "README.md.jinja2": "README.md",
    "package_init.py.jinja2": "{package}/__init__.py",
    "models.py.jinja2": "{package}/models.py",
    "graphql.py.jinja2": "{package}/graphql.py",
    "automations.py.jinja2": "{package}/automations.py",
    "hooks.py.jinja2": "{package}/hooks.py",
    "migrations.py.jinja2": "{package}/migrations.py",
    "py.typed.jinja2": "{package}/py.typed",
    "test_plugin.py.jinja2": "tests/test_{name}.py",
}


@dataclass(frozen=True)
class Names:
    """Every name the templates need, derived once from the plugin's name."""

    name: str  # the plugin: "tickets"

    @property
    def package(self) -> str:
        return f"kith_{self.name}"

    @property
    def distribution(self) -> str:
        return f"kith-{self.name.replace('_', '-')}"

    @property
    def entity(self) -> str:  # the example entity: "tickets_item"
        return f"{self.name}_item"

    @property
    def type_name(self) -> str:  # its GraphQL type: "TicketsItem"
        return "".join(part.title() for part in self.entity.split("_"))

    @property
    def camel(self) -> str:  # "ticketsItem", as in createTicketsItem / ticketsItems
        return self.type_name[0].lower() + self.type_name[1:]

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").title()

    @property
    def kith_version(self) -> str:
        return __version__

    @property
    def requires_kith(self) -> str:
        major, minor, *_ = (int(part) for part in __version__.split(".")[:2])
        return f">={major}.{minor},<{major + 1}" if major else f">={major}.{minor},<{major}.{minor + 1}"


def create(name: str, directory: Path) -> list[Path]:
    """Write the project ``kith-<name>/`` under ``directory``; returns the files written."""
    if not NAME.match(name):
        raise ValueError(
            f"{name!r}: a plugin name is 2-40 lowercase letters, digits and _, starting with a letter (e.g. tickets)"
        )
    names = Names(name)
    root = directory / names.distribution
    if root.exists():
        raise FileExistsError(f"{root} exists already: choose another name or directory")
    env = Environment(
        loader=PackageLoader("kith.cli", "scaffold"), undefined=StrictUndefined, keep_trailing_newline=True
    )
    written = []
    for template, target in TEMPLATES.items():
        path = root / target.format(package=names.package, name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(n=names))
        written.append(path)
    return written

"""Map the root folders onto the ``kith`` import namespace.

The repository keeps ``core/``, ``sdk/``, ``cli/`` and ``plugins/`` at its root, but
they install as ``kith.core`` and friends so a vendor's environment never gains a
top-level module called ``core`` or ``cli``.  Packages are discovered here rather
than listed by hand, so a new sub-package cannot be forgotten in a release.
"""

from setuptools import find_packages, setup

ROOTS = {"kith.core": "core", "kith.sdk": "sdk", "kith.cli": "cli", "kith.plugins": "plugins"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for prefix, folder in ROOTS.items():
    package_dir[prefix] = folder
    packages.append(prefix)
    packages.extend(f"{prefix}.{name}" for name in find_packages(folder))

setup(packages=packages, package_dir=package_dir)

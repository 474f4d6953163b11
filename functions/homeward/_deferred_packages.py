"""Register a few third-party packages without running their `__init__` until it is needed.

Importing `aws_lambda_powertools.event_handler.api_gateway` runs the package's `__init__`
first, and that one imports every resolver Powertools has (AppSync with asyncio, Bedrock,
VPC Lattice, the HTTP resolver...): 20-27 ms of a cold start (make bench) that only uses
`APIGatewayHttpResolver`. Importing the resolver "from its own module" does not avoid it -
Python always runs a package's `__init__` before any of its submodules.

`defer_package_init(name)` puts the package's module object in `sys.modules` with its
`__path__` set but its `__init__` not run, so `from package.submodule import X` loads only
that submodule, and a name the `__init__` merely re-exports (`from package import Response`)
comes from the submodule that defines it. Nothing is lost: any other name asked of the
package (`from aws_lambda_powertools.event_handler import AppSyncResolver`, `__all__`) runs
the real `__init__` into the same module object, then answers (`__file__` and `__path__`
are set from the start). Must run before anything imports the package;
`homeward/__init__.py` calls it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING, cast  # typing: loaded anyway by every handler (pydantic)

if TYPE_CHECKING:
    from importlib.abc import InspectLoader, Loader

DEFERRED = (
    "aws_lambda_powertools.event_handler",
    # ~40 event classes; the HTTP resolver needs 6 of them, the batch processor 4.
    "aws_lambda_powertools.utilities.data_classes",
)


def defer_package_init(name: str) -> None:
    if name in sys.modules:
        return  # already imported (its __init__ has run or is running): nothing to defer
    spec = importlib.util.find_spec(name)  # imports the parent packages, not this one
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    # Module-level __getattr__ (PEP 562) is only asked for what the module lacks.
    module.__dict__["__getattr__"] = _DeferredPackage(name, module, spec.loader).getattr
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


class _DeferredPackage:
    """The `__getattr__` of a package whose `__init__` has not run (yet)."""

    def __init__(self, name: str, module: ModuleType, loader: Loader) -> None:
        self.name = name
        self.module = module
        self.loader = loader
        self._reexports: dict[str, str] | None = None

    def reexports(self) -> dict[str, str]:
        """{name: submodule} for each `from package.submodule import name` in the __init__."""
        if self._reexports is None:
            self._reexports = _reexports(self.name, cast("InspectLoader", self.loader).get_source(self.name))
        return self._reexports

    def getattr(self, attr: str):
        name, module = self.name, self.module
        if attr.startswith("__") and attr.endswith("__") and attr != "__all__":
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        if (source := self.reexports().get(attr)) is not None:
            # A name the __init__ re-exports (`from package import Response`, as Powertools'
            # own openapi.params does): the same object, from the one submodule that defines it.
            # Kept in the package, as the __init__ would: a name that is also a submodule's
            # (`data_classes.event_source`, the function) must not stay the submodule.
            value = getattr(importlib.import_module(source), attr)
            setattr(module, attr, value)
            return value
        if importlib.util.find_spec(f"{name}.{attr}") is not None:
            # `from package import submodule` (as Powertools' own modules do): load just that one
            return importlib.import_module(f"{name}.{attr}")
        del module.__dict__["__getattr__"]
        self.loader.exec_module(module)  # the real __init__; loaded submodules are reused
        return getattr(module, attr)


def _reexports(name: str, init_source: str | None) -> dict[str, str]:
    import ast

    tree = ast.parse(init_source or "")
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or not node.module or node.level > 1:
            continue
        source = f"{name}.{node.module}" if node.level == 1 else node.module
        if source.startswith(name + "."):
            found |= {alias.asname or alias.name: source for alias in node.names}
    return found


def defer_all() -> None:
    for name in DEFERRED:
        defer_package_init(name)

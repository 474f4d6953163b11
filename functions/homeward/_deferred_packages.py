"""Register a few third-party packages without running their `__init__` until it is needed.

Importing `aws_lambda_powertools.event_handler.api_gateway` runs the package's `__init__`
first, and that one imports every resolver Powertools has (AppSync with asyncio, Bedrock,
VPC Lattice, the HTTP resolver...): ~40 ms of a cold start that only ever uses
`APIGatewayHttpResolver`. Importing the resolver "from its own module" does not avoid it -
Python always runs a package's `__init__` before any of its submodules.

`defer_package_init(name)` puts the package's module object in `sys.modules` with its
`__path__` set but its `__init__` not run, so `from package.submodule import X` loads only
that submodule, and a name the `__init__` merely re-exports (`from package import Response`)
comes from the submodule that defines it. Nothing is lost: the first attribute asked of the package itself that is not
a submodule (`from aws_lambda_powertools.event_handler import AppSyncResolver`,
`event_handler.__file__` is set from the start) runs the real `__init__` into the same module
object, then answers. Must run before anything imports the package; `homeward/__init__.py`
calls it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys

DEFERRED = ("aws_lambda_powertools.event_handler",)


def defer_package_init(name: str) -> None:
    if name in sys.modules:
        return  # already imported (its __init__ has run or is running): nothing to defer
    spec = importlib.util.find_spec(name)  # imports the parent packages, not this one
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)

    @functools.cache
    def reexports() -> dict[str, str]:
        """{name: submodule} for each `from package.submodule import name` in the __init__."""
        import ast

        tree = ast.parse(spec.loader.get_source(name) or "")
        return {
            alias.asname or alias.name: node.module
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(name + ".")
            for alias in node.names
        }

    def __getattr__(attr: str):
        # Module-level __getattr__ (PEP 562) is only asked for what the module lacks.
        if attr.startswith("__") and attr.endswith("__") and attr != "__all__":
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        if (source := reexports().get(attr)) is not None:
            # A name the __init__ re-exports (`from package import Response`, as Powertools'
            # own openapi.params does): the same object, from the one submodule that defines it.
            return getattr(importlib.import_module(source), attr)
        if importlib.util.find_spec(f"{name}.{attr}") is not None:
            # `from package import submodule` (as Powertools' own modules do): load just that one
            return importlib.import_module(f"{name}.{attr}")
        del module.__dict__["__getattr__"]
        spec.loader.exec_module(module)  # the real __init__; loaded submodules are reused
        return getattr(module, attr)

    module.__getattr__ = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


def defer_all() -> None:
    for name in DEFERRED:
        defer_package_init(name)

"""Run the template's functions in this process, one invocation at a time.

What a handler sees is what Lambda gives it: its environment from the template (Globals plus
its own Variables, resolved to local names) plus the variables the Lambda runtime sets, a
context object with the runtime's attributes, and its own copy of the modules under its
CodeUri - in Lambda every function has its own process, so module-level state such as the
settings read at import (homeward/config.py) must not leak from one function to another.

Invocations are serialized with one lock: os.environ and sys.modules are process-wide, and
one-at-a-time is simple and safe for local development.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from infra.local.console import say
from infra.local.provision import REGION, Resources
from infra.template import functions as template_functions


@dataclass
class LocalFunction:
    """One AWS::Serverless::Function with its properties resolved to local values."""

    logical_id: str
    name: str
    arn: str
    handler: str
    code_dir: Path
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    events: dict
    invoke_config: dict  # EventInvokeConfig: retries and destinations of asynchronous invocations
    dead_letter_target: str | None
    properties: dict = field(repr=False)  # as written (Globals merged, intrinsics unresolved)


def env_string(value) -> str:
    """CloudFormation passes environment values as strings; YAML booleans become true/false."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def build_functions(template: dict, template_dir: Path, resources: Resources) -> list[LocalFunction]:
    """Every active function in the template, with Globals applied and intrinsics resolved."""
    result = []
    for spec in template_functions(template):
        if spec.logical_id not in resources.types:
            continue  # its Condition is false
        props = spec.properties
        result.append(
            LocalFunction(
                logical_id=spec.logical_id,
                name=resources.refs[spec.logical_id],
                arn=resources.attrs[(spec.logical_id, "Arn")],
                handler=spec.handler,
                code_dir=(template_dir / spec.code_uri).resolve(),
                memory_mb=int(resources.resolve(props.get("MemorySize", 128))),
                timeout_s=int(resources.resolve(props.get("Timeout", 3))),
                environment={k: env_string(v) for k, v in resources.resolve(spec.environment).items()},
                events=resources.resolve(spec.events),
                invoke_config=resources.resolve(props.get("EventInvokeConfig") or {}),
                dead_letter_target=resources.resolve((props.get("DeadLetterQueue") or {}).get("TargetArn")),
                properties=props,
            )
        )
    return result


class LambdaContext:
    """The context object of the Python runtime (awslambdaric's attributes)."""

    def __init__(self, function: LocalFunction, request_id: str, log_stream: str, deadline: float) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        # The real runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        self.memory_limit_in_mb = str(function.memory_mb)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = log_stream
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """The outcome of one call to a handler."""

    function: LocalFunction
    trigger: str
    request_id: str
    result: object = None
    error: BaseException | None = None
    duration_ms: float = 0.0
    init_ms: float | None = None  # set on a cold start

    @property
    def error_payload(self) -> dict:
        """What Lambda reports for an unhandled error (used in failure destinations)."""
        exc = self.error
        return {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": self.request_id,
            "stackTrace": handler_traceback(exc)[1:-1] if exc else [],
        }


@dataclass
class InvocationRecord:
    time: str
    function: str
    trigger: str
    status: str
    duration_ms: float
    request_id: str
    detail: str | None = None


class InvocationLog:
    """Recent invocations for GET /_local/invocations, echoed to the console as they finish."""

    def __init__(self, keep: int = 200) -> None:
        self._records: deque[InvocationRecord] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, invocation: Invocation, status: str, detail: str | None = None) -> None:
        record = InvocationRecord(
            time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            function=invocation.function.logical_id,
            trigger=invocation.trigger,
            status=status,
            duration_ms=round(invocation.duration_ms, 1),
            request_id=invocation.request_id,
            detail=detail,
        )
        with self._lock:
            self._records.append(record)
        cold = f"  (cold start {invocation.init_ms:.0f} ms)" if invocation.init_ms is not None else ""
        extra = f"  {detail}" if detail else ""
        say(f"{record.function}  {record.trigger} -> {status}  {record.duration_ms:.0f} ms{cold}{extra}")

    def recent(self, limit: int = 50) -> list[dict]:
        with self._lock:
            records = list(self._records)[-limit:]
        return [asdict(r) for r in reversed(records)]


class _ModuleSpace:
    """The modules one function imported from its CodeUri, in sys.modules only while it runs."""

    # Libraries stay shared even when CodeUri contains the virtualenv (CodeUri: "." at the root).
    LIBRARY_ROOTS = tuple({sys.prefix + os.sep, sys.base_prefix + os.sep})

    def __init__(self, code_dir: Path, shared: frozenset[str]) -> None:
        self.code_dir = str(code_dir)
        self.shared = shared  # loaded before any function (e.g. this package when CodeUri is ".")
        self.modules: dict[str, object] = {}

    def _owned(self) -> list[str]:
        prefix = self.code_dir + os.sep
        owned = []
        for name, module in list(sys.modules.items()):
            path = _module_file(module) or ""
            if (
                name not in self.shared
                and path.startswith(prefix)
                and not path.startswith(self.LIBRARY_ROOTS)
            ):
                owned.append(name)
        return owned

    def __enter__(self) -> None:
        sys.path.insert(0, self.code_dir)
        sys.modules.update(self.modules)

    def __exit__(self, *exc_info) -> None:
        self.modules = {name: sys.modules.pop(name) for name in self._owned()}
        sys.path.remove(self.code_dir)


def _module_file(module) -> str | None:
    file = getattr(module, "__file__", None)
    if file:
        return file
    path = getattr(module, "__path__", None)  # namespace packages have no __file__
    return next(iter(path), None) if path else None


class Runtime:
    """Imports handlers lazily (a cold start per function) and invokes them one at a time."""

    def __init__(self, functions: list[LocalFunction], log: InvocationLog) -> None:
        self.functions = {fn.logical_id: fn for fn in functions}
        self.log = log
        self._lock = threading.Lock()
        shared = frozenset(sys.modules)
        self._spaces = {fn.logical_id: _ModuleSpace(fn.code_dir, shared) for fn in functions}
        self._handlers: dict[str, Callable] = {}
        self._log_streams: dict[str, str] = {}
        self._listeners: list[Callable[[], None]] = []
        self._state = threading.Lock()
        self.in_flight = 0  # waiting for the lock or running
        self.last_finished = 0.0  # time.monotonic() when the last invocation ended

    def on_finished(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every invocation (pollers wake up to look for its effects)."""
        self._listeners.append(listener)

    def invoke(self, function: LocalFunction, event: dict, trigger: str) -> Invocation:
        """Run the handler with a JSON round-tripped event; errors are returned, not raised."""
        invocation = Invocation(function=function, trigger=trigger, request_id=str(uuid.uuid4()))
        with self._state:
            self.in_flight += 1
        try:
            with self._lock:
                self._run(invocation, json.loads(json.dumps(event)))
        finally:
            with self._state:
                self.in_flight -= 1
                self.last_finished = time.monotonic()
            for listener in self._listeners:
                listener()
        return invocation

    def _run(self, invocation: Invocation, event: dict) -> None:
        function = invocation.function
        started = time.monotonic()
        try:
            with self._environment(function), self._spaces[function.logical_id]:
                handler = self._handlers.get(function.logical_id)
                if handler is None:
                    handler = self._import(function)
                    invocation.init_ms = (time.monotonic() - started) * 1000
                    started = time.monotonic()
                context = LambdaContext(
                    function,
                    invocation.request_id,
                    self._log_streams[function.logical_id],
                    deadline=started + function.timeout_s,
                )
                # Lambda serializes the response to JSON; a handler returning e.g. a datetime fails there.
                invocation.result = json.loads(json.dumps(handler(event, context)))
        except Exception as exc:  # noqa: BLE001 - any handler error is the invocation's outcome
            invocation.error = exc
            say(
                f"{function.logical_id} raised an unhandled error:\n"
                + "".join(handler_traceback(exc)).rstrip()
            )
        invocation.duration_ms = (time.monotonic() - started) * 1000
        if invocation.duration_ms > function.timeout_s * 1000:
            say(
                f"{function.logical_id} ran {invocation.duration_ms:.0f} ms, "
                f"over its Timeout of {function.timeout_s} s (not enforced locally)"
            )

    def _import(self, function: LocalFunction) -> Callable:
        module_name, _, attribute = function.handler.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        self._handlers[function.logical_id] = handler
        return handler

    @contextmanager
    def _environment(self, function: LocalFunction) -> Iterator[None]:
        """The function's variables plus the Lambda runtime's, restored afterwards."""
        stream = self._log_streams.setdefault(
            function.logical_id, f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        )
        wanted = {
            **function.environment,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "_HANDLER": function.handler,
            "_X_AMZN_TRACE_ID": f"Root={trace_root()};Parent={secrets.token_hex(8)};Sampled=0",
        }
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def handler_traceback(exc: BaseException) -> list[str]:
    """The error as Lambda would log it: from the handler's frame on, without this module's."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return traceback.format_exception(type(exc), exc, tb)


def trace_root() -> str:
    """An X-Ray trace id: 1-<epoch seconds in hex>-<96 random bits>."""
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"

"""`LocalStack`: moto, the template's resources, the handlers over HTTP and the event sources.

    stack = LocalStack(port=0, moto_port=5005, demo_data=False)
    stack.start()
    try:
        print(stack.api_url, stack.merchant_api_key)
    finally:
        stack.stop()

`start()` points this process at moto before any handler is imported (AWS_ENDPOINT_URL,
fake credentials, us-east-1), provisions template.yaml's resources, serves its routes,
starts its event sources and loads the demo orders; `stop()` undoes it in reverse order.
The process environment is changed for good: run one stack per process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3

from infra import web
from infra.local import demo
from infra.local.console import say
from infra.local.gateway import Gateway, GatewayServer, Route, api_cors, template_routes
from infra.local.local_api import LocalPages
from infra.local.outbox import Outbox
from infra.local.portal import DISTRIBUTION_TYPE, Distribution
from infra.local.provision import (
    LOCAL_PAYMENT_DEFAULTS,
    LOCAL_WEBHOOK_SECRETS,
    MERCHANT_KEY_SECRET,
    PARAMETER_ENV_PREFIX,
    REGION,
    Provisioner,
    Resources,
)
from infra.local.runtime import InvocationLog, LocalFunction, Runtime, build_functions
from infra.local.sources import Sources
from infra.template import TEMPLATE_PATH, load_template

MOTO_HOST = "127.0.0.1"

# Anything that could send a handler's boto3 calls to a real account instead of moto.
_REAL_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


def point_process_at_moto(moto_url: str) -> None:
    """Environment for every boto3 client created from now on in this process."""
    for name in list(os.environ):
        if name in _REAL_AWS_VARIABLES or name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=moto_url,
        # ~/.aws may name per-service endpoints or credential processes; ignore it entirely.
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        TZ="UTC",  # Lambda runs in UTC
    )
    time.tzset()


def _check_port_free(host: str, port: int, flag: str) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"{host}:{port} is in use ({exc.strerror}); choose another with {flag}") from exc


class LocalStack:
    """Homeward on this machine: moto for AWS, the real handlers behind a local HTTP API."""

    # Set by start():
    runtime: Runtime
    sources: Sources
    outbox: Outbox

    def __init__(
        self,
        template_path: Path = TEMPLATE_PATH,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        moto_port: int = 5005,
        demo_data: bool = True,
        portal_src: Path | None = None,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.host = host
        self.port = port
        self.moto_port = moto_port
        self.demo_data = demo_data
        self.portal_src = Path(portal_src).resolve() if portal_src else web.SOURCE_DIR
        self.ready = False
        self.functions: list[LocalFunction] = []
        self.routes: list[Route] = []
        self.demo_orders: list[demo.DemoOrder] = []
        self.resources: Resources | None = None
        self.distribution: Distribution | None = None  # the portal, when the template has one
        self.log = InvocationLog()
        self._stops: list[Callable[[], None]] = []
        self._clients: dict[str, object] = {}
        self._clients_lock = threading.Lock()

    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def portal_url(self) -> str | None:
        """The web app, served by the gateway like the template's CloudFront distribution."""
        return f"{self.api_url}/" if self.distribution is not None else None

    @property
    def moto_url(self) -> str:
        return f"http://{MOTO_HOST}:{self.moto_port}"

    @property
    def merchant_api_key(self) -> str | None:
        return self.resources.secrets.get(MERCHANT_KEY_SECRET) if self.resources else None

    def client(self, service: str):
        """A boto3 client for moto, shared by the stack's threads (creating one is not thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session().client(
                    service, endpoint_url=self.moto_url, region_name=REGION
                )
            return self._clients[service]

    def start(self) -> None:
        """Bring everything up; if it fails half-way, `stop()` tidies what had started."""
        _check_port_free(MOTO_HOST, self.moto_port, "--moto-port")
        # Bound now: a busy port fails fast, and --port 0 learns its number before the template needs it.
        server = GatewayServer(self.host, self.port)
        self.port = server.port
        try:
            self._start_moto()
        finally:
            self._stops.append(server.stop)  # after moto's: the API stops first
        template = load_template(self.template_path)
        if any(r.get("Type") == DISTRIBUTION_TYPE for r in template.get("Resources", {}).values()):
            # The gateway is the distribution here: email links (PORTAL_URL) point at it.
            os.environ.setdefault(PARAMETER_ENV_PREFIX + "PortalUrl", self.api_url)
        self._emulate(template)
        self.distribution = Distribution.from_template(
            template, self.resources, s3_origin=self.moto_url, src=self.portal_src
        )
        if self.distribution is not None:
            self._stops.insert(0, self.distribution.close)  # after the server has stopped
            self.distribution.refresh()
        server.gateway = Gateway(
            self.routes, api_cors(template, self.resources), self.runtime, LocalPages(self), self.distribution
        )
        server.start()
        self.sources.start()
        self._stops.append(self.sources.stop)
        self.outbox.start()
        self._stops.append(self.outbox.stop)
        if self.demo_data:
            self._load_demo_data()
        self.ready = True

    def _emulate(self, template: dict) -> None:
        """Resources in moto, then the functions, routes, event sources and outbox built on them."""
        self.resources = Provisioner(template, self.client, api_url=self.api_url).run()
        self.functions = build_functions(template, self.template_path.parent, self.resources)
        self.runtime = Runtime(self.functions, self.log)
        self.routes = template_routes(self.functions)
        self.sources = Sources(self.runtime, self.client)
        self.outbox = Outbox(self.moto_url)
        self.runtime.on_finished(self.outbox.kick)
        keys = [route.route_key for route in self.routes]
        warnings = [
            *self.resources.warnings,
            *(
                f"route {k} is declared more than once; the first function gets it"
                for k in sorted(set(keys))
                if keys.count(k) > 1
            ),
            *(f"{source}: not emulated locally" for source in self.sources.unsupported),
        ]
        for warning in warnings:
            say(f"warning: {warning}")

    def _load_demo_data(self) -> None:
        if not self.merchant_api_key or demo.ROUTE not in {r.route_key for r in self.routes}:
            say(f"no demo data: the template has no {demo.ROUTE} route or no {MERCHANT_KEY_SECRET}")
            return
        self.demo_orders = demo.demo_orders()
        demo.load(self.api_url, self.merchant_api_key, self.demo_orders)

    def _start_moto(self) -> None:
        point_process_at_moto(self.moto_url)
        for name, value in {**LOCAL_WEBHOOK_SECRETS, **LOCAL_PAYMENT_DEFAULTS}.items():
            os.environ.setdefault(name, value)
        from moto.server import ThreadedMotoServer  # Flask and friends: only when a stack starts

        from infra.local import moto_patches

        moto_patches.apply()

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
        moto = ThreadedMotoServer(ip_address=MOTO_HOST, port=self.moto_port, verbose=False)
        moto.start()
        self._stops.append(moto.stop)
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{self.moto_url}/moto-api/", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop everything started so far, newest first; safe to call after a failed start."""
        self.ready = False
        while self._stops:
            self._stops.pop()()

"""Delivering an asynchronous answer to the `sink` a request named: in background threads, with its
credential, retried where a retry can help, every outcome logged and never raised.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from proxy_addons.messages import logger

log = logger(__name__)


@dataclass(frozen=True)
class Sink:
    url: str
    token: str | None  # sent as Authorization: Bearer (sinkCredential ACCESSTOKEN)


CORRELATOR = re.compile(r"[a-zA-Z0-9-]{0,55}")  # the spec's x-correlator pattern, for the callback


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A sink that redirects gets no second POST: the credential would go to another address."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(host: str) -> ssl.SSLContext:
    """How an https sink's certificate is checked. On a loopback address (a test server on this
    machine, where nobody stands in between) it is not checked, so self-signed test servers work.
    Elsewhere it must chain to the system's trust store; OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR
    add a private CA."""
    if _is_loopback(host):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context()


@dataclass(frozen=True)
class Delivery:
    operation_id: str
    sink: Sink
    correlator: str | None
    produce: Callable[[], dict[str, Any]]  # the notification body, computed by the worker


class Deliveries:
    """Results POSTed to sinks by WORKERS daemon threads, never on the proxy's event loop. At most
    `capacity` operations wait (more get 429). Each POST has TIMEOUT_S; a connection failure, 429 or
    5xx is tried again after each of RETRY_DELAYS_S, any other answer is final. Redirects are not
    followed. Outcomes are logged, never raised."""

    WORKERS = 2
    TIMEOUT_S = 10.0
    RETRY_DELAYS_S = (1.0, 3.0)

    def __init__(self, name: str, check: Callable[[dict[str, Any]], list[str]], capacity: int = 16) -> None:
        self.name = name  # the API's, for thread names and log lines
        self._check = check
        self._queue: queue.Queue[Delivery] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._started = False

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery; False when too many wait already."""
        with self._lock:
            if not self._started:
                for n in range(self.WORKERS):
                    threading.Thread(target=self._work, name=f"{self.name}-sink-{n}", daemon=True).start()
                self._started = True
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            return False
        return True

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(delivery)
            except Exception:  # a bug of ours must not end the worker
                log.exception("%s: delivery of operation %s failed", self.name, delivery.operation_id)

    def body(self, delivery: Delivery) -> dict[str, Any]:
        try:
            result = {**delivery.produce(), "operationId": delivery.operation_id}
        except Exception as exc:
            # The spec: an error during asynchronous processing is reported in the callback.
            log.exception("%s: operation %s could not be computed", self.name, delivery.operation_id)
            result = {
                "status": "OPERATION_NOT_COMPLETED",
                "timedPopulationDensityData": [],
                "statusInfo": f"internal error in orange-proxy: {type(exc).__name__}",
                "operationId": delivery.operation_id,
            }
        problems = self._check(result)
        if problems:
            log.error(
                "synthesised %s callback breaks %s#Notification: %s",
                self.name,
                self.name,
                "; ".join(problems[:5]),
            )
        return result

    def _deliver(self, delivery: Delivery) -> None:
        data = json.dumps(self.body(delivery)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "orange-camara-proxy"}
        if delivery.sink.token is not None:
            headers["Authorization"] = f"Bearer {delivery.sink.token}"
        if delivery.correlator is not None and CORRELATOR.fullmatch(delivery.correlator):
            headers["x-correlator"] = delivery.correlator
        what = f"{self.name}: operation {delivery.operation_id} to {delivery.sink.url}"
        delays = [*self.RETRY_DELAYS_S, None]
        for attempt, delay in enumerate(delays, start=1):
            status, reason = self._post(delivery.sink.url, data, headers)
            if status is not None and 200 <= status < 300:
                log.info("%s: delivered (%d)", what, status)
                return
            retry = status is None or status == 429 or status >= 500
            if not retry or delay is None:
                log.warning("%s: not delivered after %d attempt(s): %s", what, attempt, reason)
                return
            log.warning("%s: attempt %d failed (%s); again in %g s", what, attempt, reason, delay)
            time.sleep(delay)

    def _post(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
        """(status, what happened); status None when no HTTP answer came."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # straight to the sink: it is the app's own server
            urllib.request.HTTPSHandler(context=tls_context(urlsplit(url).hostname or "")),
            _NoRedirects(),
        )
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=self.TIMEOUT_S) as response:
                response.read(65536)  # the spec's answer is a 204; nothing more is needed
                return response.status, f"the sink answered {response.status}"
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, f"the sink answered {exc.code}"
        except (OSError, ValueError) as exc:  # URLError, timeouts, TLS and connection errors
            return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"

"""The synthesiser addon's own guarantees, pinned down with mitmproxy's test helpers (run inside an
event loop, which mitmproxy's test master needs)."""

from __future__ import annotations

import asyncio
import inspect

from mitmproxy.test import taddons, tflow, tutils

from proxy_addons.addons import default_addons
from proxy_addons.addons.stages import ACTION


def flow(method: str, path: str, host: str = "api.orange.com"):
    return tflow.tflow(
        req=tutils.treq(method=method.encode(), host=host, port=443, scheme=b"https", path=path.encode())
    )


def in_proxy(check) -> None:
    """Run `check(core, handle)` with the addons loaded; `handle(flow)` runs the request hooks."""

    async def main() -> None:
        addons = default_addons()
        with taddons.context(*addons):

            def handle(f) -> None:
                for addon in addons:
                    # The async stages (faults) have nothing to do here; the rest run in order.
                    if hasattr(addon, "request") and not inspect.iscoroutinefunction(addon.request):
                        addon.request(f)

            check(addons[0], handle)

    asyncio.run(main())


def test_an_internal_error_is_answered_never_forwarded(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    def check(core, handle) -> None:
        f = flow("POST", "/camara/location-verification/orange-lab/v0/verify")
        monkeypatch.setattr(type(core.router.classify("POST", f.request.path).api), "handle", broken)
        handle(f)
        assert f.response is not None  # so mitmproxy will not forward the request upstream
        assert f.response.status_code == 500
        assert f.response.json() == {"status": 500, "code": "INTERNAL", "message": "Server error"}
        assert f.metadata[ACTION] == "synthesised"

    in_proxy(check)
    assert "internal error answering POST" in caplog.text


def test_other_hosts_are_left_alone():
    def check(core, handle) -> None:
        f = flow("POST", "/oauth/v3/token", host="example.com")
        handle(f)
        assert f.response is None
        # Not classified, not answered: only said to pass through (console, event log, summary).
        assert f.metadata == {ACTION: "passed-through"}

    in_proxy(check)


def test_the_intercept_check_is_exact():
    def check(core, handle) -> None:
        for host in ("evilapi.orange.com", "api.orange.com.attacker.example", "orange.com"):
            f = flow("POST", "/oauth/v3/token", host=host)
            handle(f)
            assert f.response is None, host
        f = flow("POST", "/oauth/v3/token", host="API.Orange.COM")
        handle(f)
        assert f.response is not None

    in_proxy(check)


def test_fault_commands_through_mitmproxys_command_manager():
    """What mitmproxy's and mitmweb's prompts call: orange.fault, orange.unfault, orange.faults.clear."""
    from mitmproxy import exceptions

    async def main() -> None:
        addons = default_addons()
        with taddons.context(*addons) as context:
            faults = next(a for a in addons if a.name == "orange_faults")
            commands = context.master.commands
            fault_id = commands.execute("orange.fault service_unavailable:times=2")
            assert [f.id for f in faults.faults] == [fault_id]
            assert faults.faults[0].get("times") == 2
            try:
                commands.execute("orange.fault teleport")
            except exceptions.CommandError as exc:
                assert "teleport" in str(exc)
            else:
                raise AssertionError("a bad spec must be refused")
            commands.execute(f"orange.unfault {fault_id}")
            assert faults.faults == []
            commands.execute("orange.fault reset")
            commands.execute("orange.faults.clear")
            assert faults.faults == []

    asyncio.run(main())

"""``cfemu dev``: serve Worker(s) on a local port with live queues, D1 and crons."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfemu.cli._http_server import HttpOptions, add_http_options, http_options, uvicorn_config
from cfemu.cli.dev_migrations import surface_migrations
from cfemu.cli.listen import ListenSettings, add_listen_options, bind, resolve_listen
from cfemu.cli.logs import LOG_LEVELS, setup_logging
from cfemu.errors import CfemuError, ConfigError
from cfemu.limits import DEFAULT_DEV_IP, DEFAULT_DEV_PORT

if TYPE_CHECKING:
    from cfemu.ai import AiSettings

__all__ = ["build_app", "describe", "make_server", "parse_vars", "register", "run", "serve"]


def register(subparsers: Any) -> None:
    """Add the ``dev`` command to the ``cfemu`` parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "dev",
        help="serve the Worker(s) locally with live queues, D1, AI and crons (like wrangler dev)",
        description="Serve the Worker(s) on a local port, with the real clock, live queue "
        "consumers, local D1 and cron triggers.",
    )
    p.add_argument(
        "-c",
        "--config",
        action="append",
        type=Path,
        help="wrangler config file; repeat for several Workers (default: found from cwd)",
    )
    p.add_argument("-e", "--env", help="the [env.NAME] to use")
    add_listen_options(p)
    p.add_argument(
        "--apply-migrations",
        action="store_true",
        help="apply each D1 database's pending migrations first (works with --in-memory)",
    )
    p.add_argument(
        "--no-reload",
        action="store_true",
        help="do not reload the Workers when their files or the config change",
    )
    p.add_argument(
        "--log-level",
        choices=tuple(LOG_LEVELS),
        default="log",
        help="request, queue and cron lines are info; console.log is log (default: %(default)s)",
    )
    p.add_argument(
        "--persist-to",
        type=Path,
        help="folder for D1 and queue state (default: .cfemu/state beside the config)",
    )
    p.add_argument(
        "--in-memory", action="store_true", help="keep all state in memory (nothing persisted)"
    )
    p.add_argument(
        "--reset",
        action="store_true",
        help="delete the state folder's queues, D1 databases and other state, then start",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY:VALUE",
        help="add or override a var (repeatable)",
    )
    p.add_argument(
        "--api-token",
        help="the bearer token the Cloudflare API at /client/v4 requires (default: any)",
    )
    p.add_argument(
        "--no-api",
        action="store_true",
        help="do not serve Cloudflare's REST API (/client/v4) beside the Worker",
    )
    p.add_argument(
        "--explorer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the Local Explorer at /cdn-cgi/local/explorer (default: only when "
        "bound to a loopback address)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="a config key wrangler does not know (a typo) is an error, not a warning",
    )
    p.add_argument(
        "--test-scheduled",
        action="store_true",
        help="expose /__scheduled?cron=... to trigger the scheduled handler",
    )
    add_http_options(p)
    ai = p.add_argument_group("Workers AI (env.AI)")
    ai.add_argument(
        "--ai-mode",
        choices=("local", "remote"),
        default="local",
        help="local stand-in model, or Cloudflare's REST API (needs CLOUDFLARE_ACCOUNT_ID "
        "and CLOUDFLARE_API_TOKEN)",
    )
    ai.add_argument("--ai-latency", type=float, default=0.0, help="seconds per local inference")
    ai.add_argument(
        "--ai-fail-rate", type=float, default=0.0, help="share of local inferences that fail"
    )
    ai.add_argument("--ai-seed", type=int, default=0, help="seed of the local model")
    p.set_defaults(handler=run)


def parse_vars(items: list[str]) -> dict[str, str]:
    """``["KEY:VALUE", ...]`` → dict; a ``ConfigError`` for an item without a colon."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise ConfigError(f"--var {item!r} must look like KEY:VALUE")
        result[key] = value
    return result


def ai_settings(args: argparse.Namespace) -> AiSettings:
    """The ``--ai-*`` options as :class:`~cfemu.ai.AiSettings` (a ConfigError if invalid)."""
    from pydantic import ValidationError

    from cfemu.ai import AiSettings

    try:
        return AiSettings(
            mode=args.ai_mode,
            latency_seconds=args.ai_latency,
            fail_rate=args.ai_fail_rate,
            seed=args.ai_seed,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = _AI_OPTIONS.get(str(first["loc"][0]), "--ai-*")
        raise ConfigError(f"{option}: {first['msg']}, got {first['input']!r}") from None


_AI_OPTIONS = {
    "mode": "--ai-mode",
    "latency_seconds": "--ai-latency",
    "fail_rate": "--ai-fail-rate",
    "seed": "--ai-seed",
}


def run(args: argparse.Namespace) -> int:
    """Run ``cfemu dev`` until Ctrl-C; returns the exit code."""
    import asyncio  # here, not at the top: `cfemu --help` does not pay for it

    from cfemu.config import find_config
    from cfemu.state import default_state_folder

    paths: list[Path] = args.config or [find_config()]
    persist_to: Path | None = None
    if not args.in_memory:
        persist_to = args.persist_to or default_state_folder(paths[0])
        if args.reset:
            from cfemu.state import reset_state_folder

            deleted = reset_state_folder(persist_to)
            print(f"Reset {persist_to}: deleted {', '.join(deleted) or 'nothing'}")
    extra_vars = parse_vars(args.var)
    ai = ai_settings(args)
    restore_logging = setup_logging(args.log_level)
    from cfemu.runtime._scope import import_scope

    # This process is cfemu's own: the sole Worker may stay installed between requests
    # (docs/internals.md, "Module isolation"); a second Worker falls back to swapping.
    import_scope.allow_resident = True
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: serve() already shut down cleanly
            asyncio.run(
                serve(
                    paths,
                    environment=args.env,
                    persist_to=persist_to,
                    listen=args,
                    extra_vars=extra_vars,
                    test_scheduled=args.test_scheduled,
                    ai=ai,
                    api=not args.no_api,
                    api_token=args.api_token,
                    explorer=args.explorer,
                    http=http_options(args),
                    strict=args.strict,
                    reload=not args.no_reload,
                    apply_migrations=args.apply_migrations,
                )
            )
    finally:
        import_scope.allow_resident = False
        import_scope.release()
        restore_logging()
    return 0


async def serve(
    paths: list[Path],
    *,
    environment: str | None = None,
    persist_to: Path | None = None,
    listen: ListenSettings | argparse.Namespace | None = None,
    extra_vars: dict[str, str] | None = None,
    test_scheduled: bool = False,
    ai: AiSettings | None = None,
    api: bool = True,
    api_token: str | None = None,
    explorer: bool | None = None,
    http: HttpOptions | None = None,
    strict: bool = False,
    reload: bool = False,
    apply_migrations: bool = False,
) -> None:
    """Start an emulator on the real clock and serve its primary Worker with uvicorn
    (and, unless ``api=False``, Cloudflare's REST API at ``/client/v4``). With ``reload``,
    saving a Worker module reloads the Workers and saving a config restarts the emulator."""
    import asyncio

    from cfemu.cli._dev_app import DevApp
    from cfemu.cli.reload import FileWatcher
    from cfemu.clock import RealClock
    from cfemu.emulator import Emulator

    def build() -> Emulator:
        return Emulator.from_configs(
            paths,
            environment=environment,
            persist_to=persist_to,
            clock=RealClock(),
            dev_mode=True,
            extra_vars=extra_vars,
            ai=ai,
            strict=strict,
        )

    emulator = build()
    if not isinstance(listen, ListenSettings):
        flags = listen or argparse.Namespace(
            ip=None, port=None, local_protocol=None, https_cert_path=None, https_key_path=None
        )
        listen = resolve_listen(flags, emulator.configs[0].dev)
    if explorer is None:
        explorer = is_loopback(listen.ip)
    sock = bind(listen)  # before any Worker loads: a port in use is one line
    swap = DevApp()  # what uvicorn serves throughout; each emulator's app is set into it
    stop = asyncio.Event()
    serving: asyncio.Task[None] | None = None
    server: Any = None
    keys: Any = None  # the terminal's shortcuts (cfemu.cli.hotkeys), when interactive
    url = listen.url(sock.getsockname()[1])
    restart: list[Emulator] = []  # the emulator a config change restarts with
    files = FileWatcher(stop)  # one for the whole run, restarts included
    with sock:
        try:
            previous: Emulator | None = None
            while True:
                emulator = await _start(emulator, previous)
                sampler = _sample_rates(emulator) if explorer else None
                try:
                    emulator.start_crons()
                    for line in describe(emulator):
                        print(line)
                    await surface_migrations(emulator, apply=apply_migrations)

                    def app(current: Any = emulator) -> Any:
                        return build_app(
                            current,
                            test_scheduled=test_scheduled,
                            api=api,
                            api_token=api_token,
                            explorer=bool(explorer),
                            http=http,
                            allowed_hosts=(listen.ip,),
                        )

                    swap.set(app())
                    if serving is None:
                        server = make_server(
                            emulator, ip=listen.ip, port=listen.port, http=http, app=swap
                        )
                        if listen.protocol == "https":
                            server.config.ssl_certfile = str(listen.cert_file)
                            server.config.ssl_keyfile = str(listen.key_file)
                        serving = asyncio.create_task(_serve(server, sock))
                        while not server.started and not serving.done():
                            await emulator.clock.sleep(0.01)
                        if server.started:
                            print(f"⎔ Ready on {url}", flush=True)
                            if api:
                                print(f"⎔ Cloudflare API on {url}/client/v4", flush=True)
                            if explorer:
                                print(
                                    f"⎔ Local Explorer on {url}/cdn-cgi/local/explorer", flush=True
                                )
                            from cfemu.cli.hotkeys import start_dev_hotkeys

                            keys = start_dev_hotkeys(url, explorer=bool(explorer), server=server)
                    else:
                        print(f"⎔ Ready on {url} (restarted)", flush=True)
                    if not reload:
                        await serving
                        return
                    restart.clear()

                    async def try_restart() -> bool:
                        try:
                            restart.append(build())
                        except CfemuError as exc:
                            print(f"✘ [ERROR] {exc}\n  (still serving the previous version)")
                            return False
                        return True

                    watcher = await files.start(
                        emulator, swap, app, lambda m: print(m, flush=True), try_restart
                    )
                    await asyncio.wait({serving, watcher}, return_when=asyncio.FIRST_COMPLETED)
                    if serving.done():
                        stop.set()
                        await watcher
                        await serving
                        return
                    await watcher
                    swap.hold()  # requests arriving during the restart wait for it
                finally:
                    if sampler is not None:
                        sampler.cancel()
                    await emulator.aclose()
                previous, emulator = emulator, restart[0]
        finally:
            stop.set()
            await files.close()
            if keys is not None:
                keys.stop()
            if server is not None and server.started:
                print("⎔ Shutting down: batches in flight finish (or are retried later)")


async def _start(emulator: Any, previous: Any) -> Any:
    """Start ``emulator``; after a config change that does not start (a Worker that does not
    import, a damaged state folder), say why and start the ``previous`` one again."""
    try:
        await emulator.start()
    except CfemuError as exc:
        if previous is None:
            raise
        print(f"✘ [ERROR] {exc}\n  (the new configuration did not start: serving the previous "
              "one; save again to retry)", flush=True)  # fmt: skip
        await previous.start()
        return previous
    return emulator


def _sample_rates(emulator: Any) -> Any:
    """Sample the queues' counters each second for the explorer's rates chart (a task)."""
    import asyncio

    from cfemu.explorer.queue_rates import sample_forever
    from cfemu.queues.service import QueueService

    return asyncio.get_running_loop().create_task(sample_forever(emulator.service(QueueService)))


async def _serve(server: Any, sock: Any) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn exits when it cannot start (e.g. a bad certificate)
        raise CfemuError("the server could not start; see the message above") from None


def make_server(
    emulator: Any,
    *,
    ip: str = DEFAULT_DEV_IP,
    port: int = DEFAULT_DEV_PORT,
    test_scheduled: bool = False,
    api: bool = True,
    api_token: str | None = None,
    explorer: bool | None = None,
    http: HttpOptions | None = None,
    app: Any = None,
) -> Any:
    """A ``uvicorn.Server`` serving the emulator's primary Worker (not started), and
    Cloudflare's REST API at ``/client/v4`` unless ``api=False``, with the HTTP options
    (forwarding trust, header and body timeouts) of ``http``; or serving ``app``. The Local
    Explorer is served when ``explorer`` is true (``None``: when ``ip`` is a loopback address)."""
    import uvicorn

    options = http or HttpOptions()
    if app is None:
        app = build_app(
            emulator,
            test_scheduled=test_scheduled,
            api=api,
            api_token=api_token,
            explorer=is_loopback(ip) if explorer is None else explorer,
            http=http,
            allowed_hosts=(ip,),
        )
    return uvicorn.Server(uvicorn_config(app, host=ip, port=port, options=options))


def build_app(
    emulator: Any,
    *,
    test_scheduled: bool = False,
    api: bool = True,
    api_token: str | None = None,
    explorer: bool = False,
    http: HttpOptions | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> Any:
    """The ASGI app ``cfemu dev`` serves: the primary Worker, the REST API, the Local
    Explorer (when ``explorer``), request logs. The API and the explorer answer only a
    local ``Host``, an IP address or one of ``allowed_hosts`` (see :mod:`cfemu.api.hosts`)."""
    from cfemu.cli._dev_app import DevApp
    from cfemu.runtime.transport import with_body_timeout

    options = http or HttpOptions()
    clock, seconds = emulator.clock, options.body_timeout
    # The body timeout wraps each app that reads bodies; the Worker's app applies it only
    # to a request with a body (one without has nothing to wait for).
    app = emulator.asgi(
        test_scheduled=test_scheduled,
        trust_forwarded=options.trust_forwarded,
        body_timeout=seconds,
    )
    mounts: list[tuple[str, Any, str]] = []
    if explorer:
        from cfemu.explorer import EXPLORER_PREFIXES, explorer_app

        explorer_asgi = with_body_timeout(explorer_app(emulator), clock, seconds)
        mounts.extend((prefix, explorer_asgi, "the Local Explorer") for prefix in EXPLORER_PREFIXES)
    if api:
        from cfemu.api import API_PREFIX, api_app

        api_asgi = with_body_timeout(api_app(emulator, token=api_token), clock, seconds)
        mounts.append((API_PREFIX, api_asgi, "the Cloudflare API"))
    return DevApp(app, mounts, allowed_hosts=allowed_hosts)


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` (an address or ``localhost``) is a loopback address."""
    import ipaddress

    if ip in ("localhost", ""):
        return ip == "localhost"
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return False


def describe(emulator: Any) -> list[str]:
    """The lines ``cfemu dev`` prints at start: every binding, consumer and cron, per Worker."""
    lines: list[str] = []
    for config in emulator.configs:
        lines.append(f"Worker {config.name!r} ({config.path}) has access to:")
        rows: list[tuple[str, str, str]] = []
        for service in emulator.services.values():
            rows.extend(service.describe(config))
        for key in config.vars:
            rows.append((f"env.{key}", "Environment Variable", "local"))
        for key in config.secrets:
            rows.append((f"env.{key} (hidden)", "Secret", "local"))
        for key in emulator.extra_vars:
            rows.append((f"env.{key}", "Environment Variable (--var)", "local"))
        width = max([len(r[0]) for r in rows] + [7])
        lines.append(f"  {'Binding':<{width}}  {'Resource':<28}  Mode")
        lines.extend(f"  {b:<{width}}  {r:<28}  {m}" for b, r, m in rows)
        for consumer in config.queues.consumers:
            dlq = (
                f", dead_letter_queue={consumer.dead_letter_queue}"
                if consumer.dead_letter_queue
                else ""
            )
            lines.append(
                f"  consumer of {consumer.queue} (max_batch_size={consumer.max_batch_size}, "
                f"max_batch_timeout={consumer.max_batch_timeout}, "
                f"max_retries={consumer.max_retries}{dlq})"
            )
        for cron in config.triggers.crons:
            lines.append(f"  cron trigger {cron!r}")
    where = emulator.persist_to or "memory (not persisted)"
    lines.append(f"State: {where}")
    return lines

"""The Deck: the one runtime object behind the console, the CLI and the tests. UI-free.

Who owns what:
- The Deck builds the adapters from the config around one shared HTTP client, and owns the router, the health
  monitor, metrics, prices, spend and the ledger. Front ends reach those parts only through Deck methods
  (providers/deck_readouts.py for what they read); they never hold a part of their own.
- The router owns the breakers and limiters (providers/router.py); the monitor owns when to probe, the health
  policy what a probe means (providers/monitor.py, providers/health_policy.py).
- A chat run is the caller's for as long as its `async with` block lasts; its finish (ledger row, turn, metrics,
  event) is the Deck's, kept in a RunBook (providers/chat_run.py) that `stop()` drains before the ledger closes.
- Chat sessions are the ledger's rows, read and written for every front end by providers/sessions.py.
Operations are async; events (health, finished requests, catalog changes) go to subscribers on the event loop.
- The event journal (providers/deck_journal.py) is the Deck's: the Deck notes health changes, breaker moves,
  finished requests, model operations and config reloads in it, and the ledger's last requests at start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from config.schema import DeckConfig, ProviderConfig
from config.secrets import SecretsError, register_environment_secrets, resolve_reference
from providers.adapters import ADAPTERS, build_adapter
from providers.adapters.civitai import CivitaiClient
from providers.adapters.dropbox_upload import UploadedFile
from providers.adapters.hf_hub import HubClient
from providers.base import (
    Adapter,
    AdapterOptions,
    ChatRequest,
    Health,
    ImageRequest,
    ModelInfo,
    ProgressCallback,
    PullProgress,
    Usage,
)
from providers.breaker import BreakerBoard
from providers.chat_run import ChatRun, RunBook, record_run, request_status
from providers.deck_journal import HISTORY_ROWS, DeckJournal
from providers.deck_readouts import DeckReadouts
from providers.deck_reload import ConfigChange, config_change
from providers.deck_signals import Budget, DeckSignals, SpendBook
from providers.dropbox_autoupload import AutoUploader
from providers.errors import AuthFailedError, ProviderError, UnknownProviderError, UnsupportedError
from providers.gpu_info import HostGpus
from providers.gpu_monitor import GpuMonitor
from providers.http import make_client
from providers.image_store import SavedImage, save_image
from providers.ledger import Ledger, LedgerError
from providers.limits import LimitPolicy
from providers.metrics import RollingMetrics
from providers.model_details import ModelSheet, model_sheet, switch_checkpoint
from providers.monitor import HealthEvent, HealthMonitor, MonitorPolicy
from providers.png_bounds import check_png
from providers.pricing import PriceTable
from providers.reply_bounds import ReplyBounds, as_provider_error
from providers.request_totals import RequestTotals
from providers.restart import RestartOutcome, RestartPlan, run_restart
from providers.router import Router
from providers.routing import Attempt, PlannedHop, Route, RouteTimeouts, Target
from providers.turns import TurnPlan, summarize


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """A routed chat ended (served, failed or cut); what the ledger row says."""

    alias: str
    served_by: Target | None
    attempts: tuple[Attempt, ...]
    cost_usd: float
    error_kind: str | None


@dataclass(frozen=True, slots=True)
class CatalogChanged:
    provider: str


DeckEvent = HealthEvent | RequestFinished | CatalogChanged
Listener = Callable[[DeckEvent], None]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    model: ModelInfo
    input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None


@dataclass(frozen=True, slots=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    errors: dict[str, str]


def _key_source(provider: ProviderConfig) -> Callable[[], str | None] | None:
    """Resolve the key reference at each use; a missing key becomes AuthFailedError, whose text says what to do."""
    reference = provider.api_key
    if reference is None:
        return None

    def resolve() -> str:
        try:
            return resolve_reference(reference)
        except SecretsError as exc:
            raise AuthFailedError(str(exc), provider=provider.name) from None

    return resolve


def adapter_options(provider: ProviderConfig) -> AdapterOptions:
    # The config keeps the server root; OpenAI-compatible adapters add /v1 themselves.
    return AdapterOptions(
        name=provider.name, base_url=provider.base_url or "", kind=provider.kind, api_key=_key_source(provider),
        timeout_s=provider.timeout_s, connect_timeout_s=provider.connect_timeout_s,
        headers=_headers(provider), image_timeout_s=provider.image_timeout_s, image_idle_s=provider.image_idle_s,
        tenant=provider.tenant, database=provider.database, config_dir=provider.config_dir,
    )


def _headers(provider: ProviderConfig) -> dict[str, str]:
    """Extra headers; secret references among them are resolved when the deck is built (a missing one is left out,
    and the provider then shows the backend's own auth error)."""
    headers = {k: v for k, v in provider.headers.items() if k not in provider.header_refs}
    for name in provider.header_refs:
        try:
            headers[name] = resolve_reference(provider.headers[name])
        except SecretsError:
            continue
    return headers


def route_from_config(config: DeckConfig) -> list[Route]:
    return [
        Route(
            alias=route.alias, strategy=route.strategy, fallbacks=route.fallbacks, retries=route.retries,
            continue_on_failover=route.continue_on_failover,
            targets=tuple(Target(t.provider, t.model, t.weight) for t in route.targets),
            timeouts=RouteTimeouts(route.timeouts.ttft_s, route.timeouts.idle_s, route.timeouts.total_s),
        )
        for route in config.routes
    ]


def reply_bounds(config: DeckConfig) -> ReplyBounds:
    """The config's `replies` section: deadlines for every request that sets none, and the answer cap."""
    limits = config.replies
    return ReplyBounds(RouteTimeouts(idle_s=limits.idle_s, total_s=limits.total_s), limits.max_answer_chars)


async def month_spend(ledger: Ledger, providers: Iterable[str], now: datetime) -> dict[str, float]:
    """What each provider has cost since the start of `now`'s month, by the ledger."""
    since = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return {name: await asyncio.to_thread(ledger.spend_since, name, since) for name in providers}


class Deck(DeckReadouts):
    """Build with a config and a data dir; `async with deck:` starts the monitor and opens the ledger. The console
    reads and asks through the Deck's methods (providers/deck_readouts.py), never through its parts."""

    def __init__(self, config: DeckConfig, data_dir: Path, *, monitor_policy: MonitorPolicy | None = None,
                 client: httpx.AsyncClient | None = None, demo: bool = False,
                 output_dir: Path | None = None, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        """The file `config` was read from, read again by a reload; None when there is none (demo, discovery)."""
        self.data_dir = data_dir
        self.output_dir = output_dir or data_dir
        """Where chat exports and generated images are written: the data dir, unless the demo keeps them apart."""
        self.demo = demo
        self.client = client or make_client()
        self.providers = {p.name: p for p in config.providers}
        self.adapters: dict[str, Adapter] = {
            p.name: build_adapter(adapter_options(p), self.client) for p in config.providers if p.kind in ADAPTERS
        }
        self.unsupported = [p.name for p in config.providers if p.kind not in ADAPTERS]
        self.retired: dict[str, ProviderConfig] = {}
        """Providers a reload removed or replaced, by name: a chat still under way on one is priced by its kind."""
        self.prices = PriceTable.load_bundled(config.prices)
        self.metrics = RollingMetrics()
        self.spend = SpendBook({b.provider: Budget(b.provider, b.usd_per_day, b.usd_per_month) for b in config.budgets})
        self.monitor = HealthMonitor(self.adapters, monitor_policy)
        self.totals = RequestTotals()
        """Counts since start that never go back (the metrics endpoint's counters); RollingMetrics forgets."""
        self.monitor.subscribe(self.totals.probe)  # models seen loaded between probes count as loads
        self.signals = DeckSignals(
            kinds={p.name: p.kind for p in config.providers}, prices=self.prices, spend=self.spend,
            health_of=self.monitor.status, latency_of=self.metrics.recent_latency,
        )
        self.router = self._router_for(config, self.adapters)
        self.journal = DeckJournal()
        self.router.on_breaker_change(self.journal.breaker)  # the board outlives a reload's new router
        self.uploads = AutoUploader(lambda: self.config, self.client, self.journal)
        """Saved images and chat exports sent to the dropbox providers whose auto_upload asks (in the background)."""
        self.ledger: Ledger | None = None
        self.ledger_problem: str | None = None
        """Why the ledger could not be opened or last written (one line with what to do); None while it works."""
        self._listeners: list[Listener] = []
        self._unsubscribe_monitor: Callable[[], None] | None = None
        self._runs = RunBook(self._finish)  # the chat runs open or being written: stop() drains them
        self.gpu_monitor = GpuMonitor(lambda: self.config, self.client)  # reads the hosts of the config of now

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self, *, monitor: bool = True) -> None:
        """Open the ledger, seed spend from it, and start the monitor. A ledger that cannot be used (data dir
        missing, full, read-only, damaged, from a newer llmdeck) leaves the deck running without history and
        `ledger_problem` saying why: the CLI refuses to go on, the console shows a banner."""
        try:
            await self._open_ledger()
        except LedgerError as exc:
            self.ledger_problem = str(exc)
        self._unsubscribe_monitor = self.monitor.subscribe(self._on_health)
        if monitor:
            self.monitor.start()
            self.gpu_monitor.start()  # GPUs are polled for whoever watches (console, serve-metrics), as health is

    async def _open_ledger(self) -> None:
        ledger = await asyncio.to_thread(Ledger.open, self.data_dir / "ledger.sqlite3")
        try:
            now = datetime.now().astimezone()
            day = await asyncio.to_thread(ledger.spend_today_by_provider)
            month = await month_spend(ledger, self.spend.budgets, now)
            history = await asyncio.to_thread(ledger.recent_requests, HISTORY_ROWS)
        except LedgerError:
            await asyncio.to_thread(ledger.close)
            raise
        self.spend.seed(day, month, now)
        self.ledger = ledger
        self.journal.history(history)

    async def stop(self) -> None:
        """Stop the monitor, finish the chat runs still open (their rows written, bounded), then close."""
        await self.monitor.stop()
        await self.gpu_monitor.stop()
        if self._unsubscribe_monitor is not None:
            self._unsubscribe_monitor()
        await self._runs.drain()
        await self.uploads.stop()  # bounded: uploads under way finish or are cancelled before the client closes
        await self.client.aclose()
        if self.ledger is not None:
            ledger, self.ledger = self.ledger, None
            await asyncio.to_thread(ledger.close)

    async def __aenter__(self) -> Deck:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_health(self, event: HealthEvent) -> None:
        """Tell the router a provider's health changed (down opens its breakers, up half-opens them), then pass
        the event on."""
        self.journal.health(event)  # before the breaker moves it causes, as it happened
        if event.changed:
            self.router.note_health(event.provider, event.health.status, event.health.detail)
        self._emit(event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every DeckEvent, on the event loop; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: DeckEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _unknown(self, provider: str) -> UnknownProviderError:
        return UnknownProviderError(f"unknown provider {provider!r}; configured: {', '.join(sorted(self.providers))}")

    def adapter(self, provider: str) -> Adapter:
        adapter = self.adapters.get(provider)
        if adapter is None:
            if provider in self.providers:
                raise UnsupportedError(f"no adapter for kind {self.providers[provider].kind} yet", provider=provider)
            raise self._unknown(provider)
        return adapter

    # --- chat ---------------------------------------------------------------------------------------------

    def explain(self, target: str, request: ChatRequest | None = None) -> list[PlannedHop]:
        return self.router.explain(target, request)

    def chat_stream(self, target: str, request: ChatRequest, *, turn: TurnPlan | None = None) -> ChatRun:
        """A routed chat: `async with deck.chat_stream(...) as run:`, then `async for chunk in run:` once.
        Leaving the block writes the ledger row, with `turn` in the same transaction, however the run ended."""
        return ChatRun(self._runs, self.router.stream(target, request), turn)

    async def chat(self, target: str, request: ChatRequest, *, turn: TurnPlan | None = None) -> ChatRun:
        async with self.chat_stream(target, request, turn=turn) as run:
            async for _ in run:
                pass
        return run

    def cost_of(self, provider: str, model: str, usage: Usage | None) -> float:
        config = self.providers.get(provider) or self.retired.get(provider)
        if usage is None or config is None:
            return 0.0
        return self.prices.cost_of(config.kind, model, usage, provider=provider) or 0.0

    def _hop_finished(self, attempt: Attempt, usage: Usage | None) -> None:
        if attempt.outcome == "skipped":
            return
        cost = self.cost_of(attempt.provider, attempt.model, usage)
        self.metrics.record(
            attempt.provider, attempt.model, ok=attempt.outcome == "ok", error_kind=attempt.error_kind,
            latency_ms=attempt.ms, ttft_ms=attempt.ttft_ms,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost_usd=cost, tokens_estimated=bool(usage and usage.estimated),
        )
        self.totals.hop(attempt, usage, cost)

    async def _finish(self, run: ChatRun) -> None:
        """A run ended: price it, write its request row and turn (one transaction), tell the subscribers."""
        routed = run.routed
        served = routed.served_by or (
            Target(routed.attempts[-1].provider, routed.attempts[-1].model) if routed.attempts else None)
        cost = self.cost_of(served.provider, served.model, routed.usage) if served else 0.0
        if served is not None and cost:
            self.spend.add(served.provider, cost)
        run.cost_usd = cost
        run.summary = summarize(run)
        if self.ledger is None:
            run.turn_problem = self.ledger_problem or "the ledger is not open; the turn is not saved"
        elif (problem := await record_run(self.ledger, run, served)) is not None:
            self.ledger_problem = problem  # the answer was still given; the caller reports the lost row
        error_kind = run.error.kind if run.error else None
        self.journal.request(routed.route.alias, routed.served_by, routed.attempts, status=request_status(run),
                             latency_ms=routed.total_ms, cost_usd=cost, error_kind=error_kind,
                             error=str(run.error) if run.error else None)
        self._emit(RequestFinished(routed.route.alias, routed.served_by, tuple(routed.attempts), cost, error_kind))

    # --- config reload ------------------------------------------------------------------------------------

    def _router_for(self, config: DeckConfig, adapters: dict[str, Adapter],
                    breakers: BreakerBoard | None = None) -> Router:
        limits = {p.name: LimitPolicy(p.rpm, p.tpm, p.max_concurrency) for p in config.providers}
        return Router(adapters, route_from_config(config), limits=limits, signals=self.signals, breakers=breakers,
                      observer=self._hop_finished, bounds=reply_bounds(config))

    async def reload(self, config: DeckConfig) -> ConfigChange:
        """Apply a validated config to the running deck. Providers and routes are added, removed or replaced, and
        the monitor's schedule follows them. The ledger, metrics, spend, breakers and open chats stay: a chat in
        flight keeps the router it began on, with that router's adapters, to its end."""
        change = config_change(self.config, config)
        gone = {*change.providers_removed, *change.providers_replaced}
        kept = {name: adapter for name, adapter in self.adapters.items() if name not in gone}
        adapters = {p.name: kept[p.name] if p.name in kept else build_adapter(adapter_options(p), self.client)
                    for p in config.providers if p.kind in ADAPTERS}
        self.retired.update((name, self.providers[name]) for name in gone)
        old_budgets, old_router = set(self.spend.budgets), self.router
        self.config, self.providers, self.adapters = config, {p.name: p for p in config.providers}, adapters
        self.unsupported = [p.name for p in config.providers if p.kind not in ADAPTERS]
        if "prices" in change.other_live:  # live prices (OpenRouter's) come back with the next catalog
            self.prices = self.signals.prices = PriceTable.load_bundled(config.prices)
        self.signals.kinds = {p.name: p.kind for p in config.providers}
        self.spend.budgets = {b.provider: Budget(b.provider, b.usd_per_day, b.usd_per_month) for b in config.budgets}
        self.router = self._router_for(config, adapters, old_router.breakers)
        # An unchanged provider's limiter goes on counting the requests it has under way on the old router.
        self.router.limiters.update((name, old_router.limiters[name]) for name in kept if name in old_router.limiters)
        await self.monitor.watch(adapters, renewed=change.providers_renewed)
        budgeted = [name for name in self.spend.budgets if name not in old_budgets]
        if budgeted and self.ledger is not None:  # this month's spend so far, as at start
            try:
                self.spend.seed({}, await month_spend(self.ledger, budgeted, datetime.now().astimezone()))
            except LedgerError as exc:
                self.ledger_problem = str(exc)
        for name in change.providers_renewed:
            self._emit(CatalogChanged(name))
        return change

    # --- health and catalog ---------------------------------------------------------------------------------

    async def health_all(self, only: Iterable[str] | None = None) -> dict[str, Health]:
        """Probe every provider (or those of `only`) once, concurrently, each bounded by the monitor's probe
        timeout."""
        chosen = None if only is None else set(only)
        names = [name for name in self.adapters if chosen is None or name in chosen]
        results = await asyncio.gather(*(self.monitor.probe(name) for name in names))
        health = dict(zip(names, results, strict=True))
        for name in self.unsupported:
            if chosen is not None and name not in chosen:
                continue
            health[name] = Health(status="unknown", detail=f"no adapter for kind {self.providers[name].kind} yet")
        return health

    def gpus(self) -> dict[str, HostGpus]:
        """The latest GPU reading of each host (config order; a host not read yet is absent). No I/O."""
        return self.gpu_monitor.latest()

    async def read_gpus(self, host: str | None = None) -> dict[str, HostGpus]:
        """Read every host's GPUs (or `host`'s) now; UnknownGpuHostError (a ValueError) for an unknown host."""
        return await self.gpu_monitor.read(host)

    async def catalog(self, provider: str | None = None, *, only: Iterable[str] | None = None) -> Catalog:
        """The models of one provider, of those in `only`, or of every provider, fetched concurrently."""
        names = [provider] if provider else list(self.adapters) if only is None else list(only)
        for name in names:
            self.adapter(name)
        results = await asyncio.gather(*(self._models_of(name) for name in names), return_exceptions=True)
        entries: list[CatalogEntry] = []
        errors: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, ProviderError):
                errors[name] = result.brief  # every reader shows it after the provider's name
                continue
            if isinstance(result, TimeoutError):
                errors[name] = str(result) or "no answer in time"
                continue
            if isinstance(result, Exception):  # an adapter's stray exception: this provider failed, not the deck
                errors[name] = as_provider_error(result, name).brief
                continue
            if isinstance(result, BaseException):
                raise result
            for model in result:
                if model.context_length:
                    self.signals.context_windows[(name, model.name)] = model.context_length
                price = self.prices.price_for(self.providers[name].kind, model.name, provider=name)
                entries.append(CatalogEntry(model, price.input_usd_per_mtok if price else None,
                                            price.output_usd_per_mtok if price else None))
        return Catalog(tuple(entries), errors)

    async def _models_of(self, name: str) -> list[ModelInfo]:
        adapter = self.adapters[name]
        async with asyncio.timeout(max(5.0, self.providers[name].timeout_s)):
            models = await adapter.list_models()
        live = getattr(adapter, "prices", None)  # OpenRouter publishes live prices with its catalog
        if callable(live):
            prices = live()
            if prices:
                windows = {m.name: m.context_length for m in models if m.context_length}
                self.prices.merge_live(prices, scope=name, context_windows=windows)
        return models

    # --- model operations ---------------------------------------------------------------------------------

    def describe(self, operation: str, provider: str, model: str | None = None) -> str:
        """The exact call an operation will make, for the confirmation dialog and the CLI."""
        if operation == "restart":
            return self.restart_plan(provider).shown
        return self.adapter(provider).describe_call(operation, model)

    async def pull(self, provider: str, model: str) -> AsyncIterator[PullProgress]:
        adapter = self.adapter(provider)
        with self.journal.operation("pull", provider, model) as record:
            async for progress in adapter.pull(model):
                record.finished = record.finished or progress.done
                yield progress
                if progress.done:
                    self._emit(CatalogChanged(provider))

    async def delete(self, provider: str, model: str) -> None:
        adapter = self.adapter(provider)
        with self.journal.operation("delete", provider, model):
            await adapter.delete(model)
        self._emit(CatalogChanged(provider))

    async def load(self, provider: str, model: str) -> None:
        adapter = self.adapter(provider)
        with self.journal.operation("load", provider, model):
            await adapter.load(model)
        self._emit(CatalogChanged(provider))

    async def unload(self, provider: str, model: str) -> None:
        adapter = self.adapter(provider)
        with self.journal.operation("unload", provider, model):
            await adapter.unload(model)
        self._emit(CatalogChanged(provider))

    async def model_details(self, provider: str, model: str) -> ModelSheet:
        """What the backend tells about one model: its catalog entry, plus Ollama's /api/show where it exists."""
        return await model_sheet(self.adapter(provider), model)

    async def switch_checkpoint(self, provider: str, model: str) -> None:
        """Make `model` the provider's active image checkpoint (A1111); UnsupportedError where there is none."""
        adapter = self.adapter(provider)
        with self.journal.operation("switch", provider, model):
            await switch_checkpoint(adapter, model)
        self._emit(CatalogChanged(provider))

    def restart_plan(self, provider: str) -> RestartPlan:
        config = self.providers.get(provider)
        if config is None:
            raise self._unknown(provider)
        return RestartPlan(provider, config.restart)

    async def restart(self, provider: str) -> RestartOutcome:
        """Run the provider's restart argv; RestartRefusedError (a ValueError) when it would carry a known secret."""
        # Keys referenced from the environment are known secrets even before any request has read them.
        register_environment_secrets(ref for p in self.config.providers
                                     for ref in (p.api_key_ref, *p.header_refs.values()) if ref is not None)
        plan = self.restart_plan(provider)
        with self.journal.operation("restart", provider) as record:
            outcome = await run_restart(plan)
            if outcome.returncode != 0:
                record.error = f"the restart command exited with status {outcome.returncode}"
            record.detail = outcome.output.strip()
        self.monitor.probe_now(provider)
        return outcome

    def record_config_reload(self, source: str | Path, *, error: str | None = None,
                             changes: Sequence[str] = ()) -> None:
        """Note a config reload in the event journal: applied (`changes`: one line per thing that changed), or
        refused with `error` (the running config stays). For `:reload`, and whatever else reads the file again."""
        self.journal.config_reload(str(source), error=error, changes=changes)

    # --- images -------------------------------------------------------------------------------------------

    async def generate_image(self, provider: str, request: ImageRequest, *, on_progress: ProgressCallback | None = None,
                             out: Path | None = None) -> SavedImage:
        """Generate, save PNG + JSON sidecar under the output dir (or `out`), and record the job in the ledger."""
        started = time.perf_counter()
        try:
            result = await self.adapter(provider).generate_image(request, on_progress)
        except Exception as exc:  # an adapter's stray exception is that provider's failure, in the taxonomy
            raise as_provider_error(exc, provider) from exc
        ms = (time.perf_counter() - started) * 1000.0
        await asyncio.to_thread(check_png, result.png, provider)  # a bomb is refused before it reaches the disk
        saved = await asyncio.to_thread(save_image, self.output_dir / "images", provider, request, result, ms, out)
        self.uploads.saved("images", saved.path, saved.sidecar)
        if self.ledger is not None:
            try:
                await asyncio.to_thread(
                    self.ledger.record_image, provider=provider, model=result.model, prompt=request.prompt,
                    params={"width": request.width, "height": request.height, "steps": request.steps,
                            "seed": result.seed, "negative": request.negative},
                    path=str(saved.path), ms=ms,
                )
            except LedgerError as exc:  # the image is saved; the caller reports the lost row
                self.ledger_problem = str(exc)
        return saved

    async def upload(self, provider: str, files: Sequence[Path]) -> list[UploadedFile]:
        """Upload `files` (a PNG brings its sidecar) to the dropbox provider `provider` now, as the operator asked;
        where each went. Noted in the journal as the automatic uploads are."""
        config = self.providers.get(provider)
        if config is None:
            raise self._unknown(provider)
        if config.kind != "dropbox":
            raise UnsupportedError(f"kind {config.kind} is not a dropbox provider: nothing is uploaded to it",
                                   provider=provider)
        return await self.uploads.upload_now(config, files)

    def hub(self) -> HubClient:
        """The Hugging Face Hub as the config's huggingface provider reaches it (address, key), on the Deck's client."""
        from providers.model_fetch import hub_access, hub_client  # it builds on this module

        return hub_client(self.client, hub_access(self.config))

    def civitai(self) -> CivitaiClient:
        """CivitAI as the config's civitai provider reaches it (address, key, NSFW choice), on the Deck's client."""
        from providers.model_fetch import civitai_client, civitai_provider  # it builds on this module

        return civitai_client(self.client, civitai_provider(self.config))

    async def interrupt_image(self, provider: str) -> None:
        """Ask `provider` to stop its running image job; the pending generate_image then ends early or raises."""
        await self.adapter(provider).interrupt()

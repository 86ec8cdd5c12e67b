"""The Chroma adapter against a real Chroma: `chroma run` from the test extra's chromadb (1.5.x), started once per
module on a loopback port of its own with its data in a temp dir, and always stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers.adapters import build_adapter
from providers.base import Adapter, AdapterOptions
from providers.errors import NotFoundError
from providers.health_policy import probe_health
from tests.waiting import HANG_S, wait_for_condition_sync

CHROMA = Path(sys.executable).with_name("chroma")
DEFAULT_COLLECTIONS = ("lab-notes", "papers")
LABDB_COLLECTIONS = ("in-labdb",)
DATABASES = "/api/v2/tenants/default_tenant/databases"

pytestmark = pytest.mark.skipif(not CHROMA.is_file(), reason="chromadb (the test extra) is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v2/heartbeat", timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _post(url: str, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"{url}{path}", json=body, timeout=30.0, trust_env=False).raise_for_status()


@pytest.fixture(scope="module")
def real_chroma() -> Iterator[str]:
    """A running `chroma run` holding `lab-notes` and `papers` in default_database and `in-labdb` in a second
    database `labdb`, and an empty database `emptydb`; its URL."""
    workdir = Path(tempfile.mkdtemp(prefix="llmdeck-chroma-"))
    port = _free_port()  # per process, so each xdist worker has its own server
    url = f"http://127.0.0.1:{port}"
    # No telemetry and no network: chroma run makes no outside connection (checked with strace on 1.5.9); HOME
    # keeps anything it might write in the temp dir.
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HOME": str(workdir)}
    with (workdir / "chroma.log").open("wb") as log:
        process = subprocess.Popen([str(CHROMA), "run", "--path", str(workdir / "data"), "--host", "127.0.0.1",
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL)
    try:
        wait_for_condition_sync(lambda: process.poll() is not None or _answers(url),
                                what="chroma run to answer /api/v2/heartbeat", timeout_s=max(HANG_S, 30.0))
        if process.poll() is not None:
            pytest.fail(f"chroma run exited ({process.returncode}): "
                        f"{(workdir / 'chroma.log').read_text(errors='replace')[-2000:]}")
        for name in DEFAULT_COLLECTIONS:
            _post(url, f"{DATABASES}/default_database/collections", {"name": name})
        for database in ("labdb", "emptydb"):
            _post(url, DATABASES, {"name": database})
        for name in LABDB_COLLECTIONS:
            _post(url, f"{DATABASES}/labdb/collections", {"name": name})
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def chroma(url: str, client: httpx.AsyncClient, **options: Any) -> Adapter:
    return build_adapter(AdapterOptions(name="vectors", base_url=url, kind="chroma", timeout_s=30.0, **options),
                         client)


async def test_health_is_up_with_the_collections_and_the_servers_version(real_chroma: str,
                                                                         client: httpx.AsyncClient) -> None:
    health = await probe_health(chroma(real_chroma, client), HANG_S)
    assert health.status == "up", health.detail
    assert sorted(health.models_loaded) == sorted(DEFAULT_COLLECTIONS) and health.detail == "2 collections"
    assert health.version == "1.0.0"  # what chroma 1.5.x's /api/v2/version says


async def test_list_models_returns_the_collections(real_chroma: str, client: httpx.AsyncClient) -> None:
    catalog = await chroma(real_chroma, client).list_models()
    assert sorted((m.name, m.kind, m.provider) for m in catalog) == [
        (name, "collection", "vectors") for name in sorted(DEFAULT_COLLECTIONS)]


async def test_a_provider_on_another_database_sees_only_its_collections(real_chroma: str,
                                                                        client: httpx.AsyncClient) -> None:
    labdb = chroma(real_chroma, client, database="labdb")
    health = await probe_health(labdb, HANG_S)
    assert (health.status, health.models_loaded) == ("up", LABDB_COLLECTIONS)
    assert [m.name for m in await labdb.list_models()] == list(LABDB_COLLECTIONS)


async def test_an_empty_database_is_up_with_no_collections(real_chroma: str, client: httpx.AsyncClient) -> None:
    health = await probe_health(chroma(real_chroma, client, database="emptydb"), HANG_S)
    assert (health.status, health.models_loaded, health.detail) == ("up", (), "0 collections")


async def test_a_missing_database_or_tenant_is_one_clear_line(real_chroma: str, client: httpx.AsyncClient) -> None:
    # Chroma itself lists a missing database as an empty 200: the adapter asks the database to tell them apart.
    missing = chroma(real_chroma, client, database="nope")
    health = await probe_health(missing, HANG_S)
    assert health.status == "down"
    assert health.detail == ("Chroma has no database 'nope' of tenant 'default_tenant': create it, or set "
                             "`database:` to one that exists")
    with pytest.raises(NotFoundError, match="no database 'nope'"):
        await missing.list_models()
    no_tenant = await probe_health(chroma(real_chroma, client, tenant="acme"), HANG_S)
    assert (no_tenant.status, no_tenant.detail) == ("down", "Chroma has no tenant 'acme': set `tenant:` to one "
                                                            "that exists")


async def test_a_database_name_that_needs_quoting_reaches_chroma_intact(real_chroma: str,
                                                                        client: httpx.AsyncClient) -> None:
    for path, name in ((DATABASES, "team-a_rag"), (f"{DATABASES}/team-a_rag/collections", "quoted")):
        assert (await client.post(f"{real_chroma}{path}", json={"name": name})).status_code == 200
    odd = await probe_health(chroma(real_chroma, client, database="team a/rag"), HANG_S)
    assert odd.status == "down" and "no database 'team a/rag'" in odd.detail  # asked for, not mangled into another
    assert (await probe_health(chroma(real_chroma, client, database="team-a_rag"), HANG_S)).models_loaded == ("quoted",)

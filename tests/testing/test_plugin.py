"""The pytest plugin itself, run in nested pytest sessions (pytester, in process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROJECT = Path(__file__).parent / "project"

TEST_ROUND_TRIP = """
async def test_round_trip(emulator, env, client):
    assert (await client.post("/jobs", json={"job": "a"})).status_code == 202
    await emulator.drain()
    assert (await client.get("/jobs")).json() == ["a"]
    assert env is emulator.env and env.RETRY_DELAY == 30
"""


def _project(pytester: pytest.Pytester, folder: str = ".") -> Path:
    target = pytester.path / folder
    shutil.copytree(PROJECT, target, dirs_exist_ok=True)
    return target


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # hypothesis's plugin costs ~1 s per session (its terminal summary); not needed here.
    return pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", *args
    )


def test_fixtures_find_the_projects_wrangler_config(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(test_shop=TEST_ROUND_TRIP)
    _run(pytester).assert_outcomes(passed=1)


def test_each_test_gets_fresh_state(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        test_fresh="""
        import pytest

        @pytest.mark.parametrize("job", ["first", "second"])
        async def test_alone(emulator, env, job):
            assert await env.DB.prepare("SELECT count(*) AS n FROM done").first("n") == 0
            assert emulator.queues["jobs"].stats().sent == 0
            assert emulator.clock.now() == 1767225600.0  # each test's clock starts afresh
            await env.JOBS.send({"job": job})
            await emulator.drain()
            assert await env.DB.prepare("SELECT count(*) AS n FROM done").first("n") == 1
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_ini_option_names_the_config(pytester: pytest.Pytester) -> None:
    _project(pytester, "service")
    pytester.makeini("[pytest]\ncfemu_config = service/wrangler.toml\n")
    pytester.makepyfile(test_shop=TEST_ROUND_TRIP)
    _run(pytester).assert_outcomes(passed=1)


def test_marker_names_the_config_beside_the_test_file(pytester: pytest.Pytester) -> None:
    _project(pytester, "tests/app")
    pytester.makeini("[pytest]\ncfemu_config = does/not/exist.toml\n")  # the marker wins
    pytester.path.joinpath("tests", "test_marked.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.cfemu_config('app/wrangler.toml')\n" + TEST_ROUND_TRIP
    )
    _run(pytester).assert_outcomes(passed=1)


def test_marker_with_several_configs_makes_several_workers(pytester: pytest.Pytester) -> None:
    _project(pytester, "shop")
    pytester.path.joinpath("ping.toml").write_text(
        'name = "ping"\n\n[[queues.producers]]\nbinding = "JOBS"\nqueue = "jobs"\n'
    )
    pytester.makepyfile(
        test_two="""
        import pytest

        @pytest.mark.cfemu_config("ping.toml", "shop/wrangler.toml")
        async def test_ping_produces_shop_consumes(emulator, env):
            assert sorted(emulator.workers) == ["ping", "shop"]
            await env.JOBS.send({"job": "from-ping"})  # env: the first (primary) Worker
            await emulator.drain()
            db = emulator.database("DB", worker="shop")
            assert await db.prepare("SELECT job FROM done").raw() == [["from-ping"]]
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_migrations_can_be_left_to_the_test(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makeini("[pytest]\ncfemu_apply_migrations = false\n")
    pytester.makepyfile(
        test_bare="""
        async def test_no_tables(emulator, env):
            assert await emulator.pending_migrations("DB") == ["0001_init.sql", "0002_ticks.sql"]
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_tests_using_the_fixtures_are_marked_anyio_and_others_are_not(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makeini("[pytest]\nmarkers =\n    asyncio: run by pytest-asyncio\n")
    pytester.makepyfile(
        test_marks="""
        import pytest

        async def test_uses_env(env):
            pass

        def test_sync_uses_env(env):
            assert env.RETRY_DELAY == 30  # a sync test can use the fixtures too

        def test_plain():
            pass

        @pytest.mark.asyncio
        async def test_left_to_pytest_asyncio(env):
            pass
        """
    )
    items, _ = pytester.inline_genitems("-p", "no:hypothesispytest")
    marked = {item.name.split("[")[0]: item.get_closest_marker("anyio") for item in items}
    assert marked["test_uses_env"] is not None
    assert marked["test_sync_uses_env"] is not None
    assert marked["test_plain"] is None
    assert marked["test_left_to_pytest_asyncio"] is None
    result = _run(pytester, "-k", "not pytest_asyncio")
    result.assert_outcomes(passed=3, deselected=1)


def test_a_missing_config_fails_the_fixture_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_none="async def test_x(emulator):\n    pass\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*wrangler*"])


@pytest.mark.parametrize(("value", "pending"), [("no", 2), ("off", 2), ("0", 2), ("yes", 0)])
def test_apply_migrations_ini_option_reads_any_boolean_spelling(
    pytester: pytest.Pytester, value: str, pending: int
) -> None:
    _project(pytester)
    pytester.makeini(f"[pytest]\ncfemu_apply_migrations = {value}\n")
    pytester.makepyfile(
        test_bare=f"""
        async def test_pending(emulator):
            assert len(await emulator.pending_migrations("DB")) == {pending}
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_apply_migrations_takes_a_toml_boolean_in_pytests_native_table(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyprojecttoml("[tool.pytest]\ncfemu_apply_migrations = false\n")
    pytester.makepyfile(
        test_bare="""
        async def test_pending(emulator):
            assert len(await emulator.pending_migrations("DB")) == 2
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_fixture_tests_run_once_on_asyncio_when_anyio_backend_has_several_params(
    pytester: pytest.Pytester,
) -> None:
    # anyio parametrizes anyio_backend over every installed backend (trio included).
    _project(pytester)
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module", params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param
        """
    )
    pytester.makepyfile(
        test_backends="""
        import pytest

        async def test_async(env):
            assert env.RETRY_DELAY == 30

        def test_sync(env):
            assert env.RETRY_DELAY == 30
        """
    )
    # (trio is not installed here: a trio run would error, not skip)
    _run(pytester).assert_outcomes(passed=2)


def test_marker_paths_are_found_above_the_test_file_when_rootdir_is_its_folder(
    pytester: pytest.Pytester,
) -> None:
    # `cd tests && pytest` without an ini file makes tests/ the rootdir.
    _project(pytester, "shop")
    tests = pytester.mkdir("tests")
    tests.joinpath("test_shop.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.cfemu_config('shop/wrangler.toml')\n" + TEST_ROUND_TRIP
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", "--rootdir", str(tests)
    )
    result.assert_outcomes(passed=1)


def test_ini_path_is_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    _project(pytester, "conf/service")
    pytester.path.joinpath("conf", "pytest.ini").write_text(
        "[pytest]\ncfemu_config = service/wrangler.toml\n"
    )
    pytester.makepyfile(test_shop=TEST_ROUND_TRIP)
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "-q",
        "-c",
        "conf/pytest.ini",
        "--rootdir",
        str(pytester.path),
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "@pytest.mark.cfemu_config('nope/wrangler.toml')",
            "*@pytest.mark.cfemu_config: config file 'nope/wrangler.toml' not found (looked for*",
        ),
        ("@pytest.mark.cfemu_config()", "*cfemu_config(...) needs at least one config path*"),
        ("@pytest.mark.cfemu_config(42)", "*expected a path to a wrangler config file, got 42*"),
        (
            "@pytest.mark.cfemu_config('bad.toml')",
            "*cfemu could not start the Worker: *bad.toml:5:1: *max_batch_size*",
        ),
    ],
)
def test_config_mistakes_fail_the_fixture_with_a_short_clear_message(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.path.joinpath("bad.toml").write_text(
        'name = "bad"\n\n[[queues.consumers]]\nqueue = "jobs"\nmax_batch_size = 500\n'
    )
    pytester.makepyfile(test_bad=f"import pytest\n\n{marker}\nasync def test_x(env):\n    pass\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")
    result.stdout.no_fnmatch_line("*cfemu/config/*")
    # The error report itself (not the one-line summary, which pytest truncates to the terminal
    # width except on CI) names the mistake once, not once more as a chained cause.
    report = result.stdout.str().split("short test summary info")[0]
    assert report.count("must be between 1 and 100") == (1 if "bad.toml" in marker else 0)


def test_a_worker_that_fails_to_import_is_one_message_with_the_users_line(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    worker = pytester.path / "worker.py"
    worker.write_text("import os\nimport helper_that_is_missing\n" + worker.read_text())
    pytester.makepyfile(test_w="async def test_x(env):\n    pass\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cfemu could not start the Worker: Worker * failed: ModuleNotFoundError: "
            "No module named 'helper_that_is_missing'",
            f"*at {worker}:2: import helper_that_is_missing",
        ]
    )
    for noise in ("*Traceback*", "*During handling*", "*anyio*", "*cfemu/runtime*"):
        result.stdout.no_fnmatch_line(noise)


def test_the_strict_ini_option_makes_a_typo_an_error(pytester: pytest.Pytester) -> None:
    _project(pytester)
    config = pytester.path / "wrangler.toml"
    config.write_text(config.read_text() + "\n[dev]\nprot = 1\n")
    pytester.makepyfile(test_w="async def test_x(env):\n    pass\n")
    _run(pytester).assert_outcomes(passed=1)  # a warning only, by default
    pytester.makeini("[pytest]\ncfemu_strict = true\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*wrangler.toml:*: dev.prot: unknown key*did you mean `port`?"])

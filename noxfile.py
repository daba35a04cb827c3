"""Developer and CI entry points. `nox -s tests` is what CI runs (see README)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "lint"]

# Pinned so a new release of a linter cannot turn CI red overnight; bump deliberately.
LINT_DEPS = ["ruff==0.17.6", "mypy==2.4.1", "flake8-async==26.8.1"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite with branch coverage (gate: 90%), fast Hypothesis profile, -W error."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "-W",
        "error",
        "--cov=cjt_actors",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=90",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "fast"},
    )


@nox.session
def paper(session: nox.Session) -> None:
    """Paper-trade the default market maker on the embedded simulator until Ctrl-C.

    Arguments after ``--`` go to ``cjt paper``: ``nox -s paper -- --duration 60``,
    ``nox -s paper -- --config docs/paper.toml``.
    """
    session.install("-e", ".")
    session.run("cjt", "paper", *session.posargs, external=False)


@nox.session
def property(session: nox.Session) -> None:
    """Every Hypothesis suite with the thorough profile (many more examples)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "-W",
        "error",
        "-m",
        "property",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "thorough"},
    )


@nox.session
def scenarios(session: nox.Session) -> None:
    """Every scripted failure scenario in scenarios/, in virtual time (``cjt scenario run``).

    Arguments after ``--`` replace the default: ``nox -s scenarios -- scenarios/gap.toml
    --repeat 2``.
    """
    session.install("-e", ".")
    session.run("cjt", "scenario", "run", *(session.posargs or ["scenarios"]))


@nox.session
def soak(session: nox.Session) -> None:
    """The chaos soak: the live stack against the simulator in real time, seeded random
    faults, invariants checked as it goes, recovery times and memory reported.

    ``nox -s soak -- --minutes 60 --seed 7`` (default: 10 minutes); ``cjt soak --help``.
    """
    session.install("-e", ".")
    session.run("cjt", "soak", *(session.posargs or ["--minutes", "10"]))


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark of tests/performance/ on the recorded capture; prints the table with
    each target met or missed and writes .cache/bench/results.json (about 8 minutes).

    ``nox -s bench -- --quick`` is a one-minute smoke run; ``-- --record`` also rewrites
    docs/performance.json and the table in docs/performance.md; ``-- --only bench_book``.
    """
    session.install("-e", ".[bench]")
    session.run("python", "-m", "tests.performance", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check), mypy --strict on the package, flake8-async (ASYNC102)."""
    session.install("-e", ".[test]", *LINT_DEPS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "cjt_actors")
    # ruff ports most ASYNC rules but not ASYNC102 (an await in `finally` / `except
    # BaseException` must run in a shielded scope with a deadline), hence flake8-async, on
    # the package. Not on tests: they contain deliberately misbehaving actors (cleanup with
    # no deadline, to prove overruns are handled) and real-socket polling; ruff's ASYNC
    # rules still check them.
    # Disabled: ASYNC114/128 misread functions that hand task_status on to a child (the
    # supervisor's run and monitor); ASYNC124 flags callbacks that must be async by protocol;
    # ASYNC127 asks for httpx2 instead of httpx, but httpx is the design card's choice.
    session.run(
        "flake8-async",
        "--enable=ASYNC1",
        "--disable=ASYNC114,ASYNC124,ASYNC127,ASYNC128",
        *_python_files(session, "cjt_actors"),
    )


def _python_files(session: nox.Session, *roots: str) -> list[str]:
    from pathlib import Path

    files = sorted(str(p) for root in roots for p in Path(root).rglob("*.py"))
    if not files:
        session.error(f"no Python files under {roots}")
    return files

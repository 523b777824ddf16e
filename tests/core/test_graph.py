"""The job graph: the table, a dealer's graph from its platforms, cycle refusal, and the rule
that decides when a waiting run may start."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from od.scheduling.graph import (
    JOBS,
    READY,
    STATUSES,
    UNSUCCESSFUL,
    Blocked,
    GraphError,
    JobType,
    PrereqRun,
    Waiting,
    check,
    dealer_graph,
    find_cycle,
    resolve,
)


def job(name: str, *deps: str, platform: str | None = "", priority: int = 0) -> JobType:
    return JobType(name, deps, "0 * * * *", priority, name if platform == "" else platform)


# --- the table ---------------------------------------------------------------------------------


def test_the_declared_table_is_the_issue_graph() -> None:
    table = check(JOBS)
    assert table["dealer_com"].depends_on == ("homenet",)
    assert table["scrape"].depends_on == ("homenet",)
    assert table["url_shortening"].depends_on == ("scrape",)
    assert table["homenet"].depends_on == ()


def test_a_dealer_with_every_platform_runs_homenet_first() -> None:
    g = dealer_graph(["scrape", "dealer_com", "homenet"])
    assert g.names[0] == "homenet"
    assert g.names.index("scrape") < g.names.index("url_shortening")
    assert dict(g.prereqs) == {
        "homenet": (),
        "dealer_com": ("homenet",),
        "scrape": ("homenet",),
        "url_shortening": ("scrape",),
    }
    assert g.dependants("homenet") == ("dealer_com", "scrape")


def test_a_dealer_without_homenet_runs_its_other_jobs_without_that_prerequisite() -> None:
    g = dealer_graph(["dealer_com", "scrape"])
    assert "homenet" not in g
    assert g.prereqs["dealer_com"] == ()
    assert g.prereqs["scrape"] == ()
    assert g.prereqs["url_shortening"] == ("scrape",)


def test_a_missing_prerequisite_is_looked_through() -> None:
    g = dealer_graph(["homenet"])
    assert g.names == ("homenet", "url_shortening")
    assert g.prereqs["url_shortening"] == ("homenet",)


def test_no_platform_job_means_no_jobs() -> None:
    assert dealer_graph([]).names == ()
    assert dealer_graph(["manual"]).names == ()


def test_platform_order_and_repeats_do_not_matter() -> None:
    assert dealer_graph(["scrape", "homenet", "scrape"]) == dealer_graph(["homenet", "scrape"])


# --- cycles --------------------------------------------------------------------------------------


def test_a_cycle_is_refused_and_named() -> None:
    table = [job("homenet", "scrape"), job("scrape", "url_shortening"), job("url_shortening", "homenet")]
    with pytest.raises(GraphError, match="cycle: homenet → scrape → url_shortening → homenet"):
        check(table)
    with pytest.raises(GraphError, match="cycle"):
        dealer_graph(["homenet"], table)


def test_a_self_dependency_is_a_cycle() -> None:
    with pytest.raises(GraphError, match="cycle: a → a"):
        check([job("a", "a")])


def test_unknown_and_repeated_jobs_are_refused() -> None:
    with pytest.raises(GraphError, match="unknown job"):
        check([job("a", "nope")])
    with pytest.raises(GraphError, match="declared twice"):
        check([job("a"), job("a")])


NAMES = [f"j{i}" for i in range(7)]


@st.composite
def dags(draw: st.DrawFn) -> list[JobType]:
    """Random acyclic tables: a job depends only on jobs declared before it."""
    n = draw(st.integers(1, len(NAMES)))
    table = []
    for i in range(n):
        deps = draw(st.lists(st.sampled_from(NAMES[:i]), unique=True)) if i else []
        platform = draw(st.sampled_from([NAMES[i], NAMES[i], None]))
        table.append(job(NAMES[i], *deps, platform=platform, priority=draw(st.integers(0, 3))))
    return table


def reachable(edges: dict[str, tuple[str, ...]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return seen


@given(dags(), st.data())
def test_a_cycle_is_found_exactly_when_there_is_one(table: list[JobType], data: st.DataObject) -> None:
    edges = {j.name: j.depends_on for j in table}
    assert find_cycle(edges) is None
    names = [j.name for j in table]
    b = data.draw(st.sampled_from(names))
    a = data.draw(st.sampled_from(names[: names.index(b) + 1]))
    closes_a_loop = a == b or a in reachable(edges, b)
    edges[a] = (*edges[a], b)  # a now runs after b
    cycle = find_cycle(edges)
    if not closes_a_loop:
        assert cycle is None
        return
    assert cycle is not None and cycle[0] == cycle[-1]
    for x, y in itertools.pairwise(cycle):
        assert y in edges[x]


@given(dags(), st.sets(st.sampled_from(NAMES)))
def test_a_dealer_graph_keeps_the_order_of_the_table(table: list[JobType], platforms: set[str]) -> None:
    g = dealer_graph(platforms, table)
    by_name = {j.name: j for j in table}
    full = {j.name: j.depends_on for j in table}
    chosen = set(g.names)
    # Jobs: those its platforms call for, plus the platform-less ones when there is any.
    wanted = {j.name for j in table if j.platform in platforms}
    assert chosen == (wanted | {j.name for j in table if j.platform is None} if wanted else set())
    # Prerequisites first.
    for name in g.names:
        for dep in g.prereqs[name]:
            assert g.names.index(dep) < g.names.index(name)
    # Among the dealer's jobs, "runs after" is exactly what the full table says.
    for name in chosen:
        assert reachable(dict(g.prereqs), name) == reachable(full, name) & chosen
        assert all(dep in chosen and dep in reachable(full, name) for dep in g.prereqs[name])
    assert all(by_name[n] == j for n, j in zip(g.names, g.jobs, strict=True))


# --- resolving waiting runs --------------------------------------------------------------------


def w(run_id: str, job_name: str, **prereqs: PrereqRun | None) -> Waiting:
    return Waiting(run_id, job_name, prereqs)


def test_a_run_is_ready_when_its_prerequisites_succeeded() -> None:
    decisions = resolve([w("d", "dealer_com", homenet=PrereqRun("h", "succeeded"))])
    assert decisions == {"d": READY}


def test_a_run_waits_for_a_running_or_absent_prerequisite() -> None:
    assert resolve([w("d", "dealer_com", homenet=PrereqRun("h", "running"))]) == {}
    assert resolve([w("d", "dealer_com", homenet=None)]) == {}


def test_a_root_run_is_ready_at_once() -> None:
    assert resolve([w("h", "homenet")]) == {"h": READY}


def test_a_failure_blocks_every_dependant_in_one_go() -> None:
    homenet = PrereqRun("h", "failed")
    decisions = resolve(
        [
            w("u", "url_shortening", scrape=PrereqRun("s", "waiting")),
            w("s", "scrape", homenet=homenet),
            w("d", "dealer_com", homenet=homenet),
        ]
    )
    assert decisions["s"] == Blocked("prerequisite homenet failed (run h)")
    assert decisions["d"] == Blocked("prerequisite homenet failed (run h)")
    assert decisions["u"] == Blocked("prerequisite scrape blocked (run s)")


def test_a_ready_run_does_not_make_its_dependants_ready() -> None:
    decisions = resolve(
        [
            w("s", "scrape", homenet=PrereqRun("h", "succeeded")),
            w("u", "url_shortening", scrape=PrereqRun("s", "waiting")),
        ]
    )
    assert decisions == {"s": READY}


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.one_of(st.none(), st.tuples(st.sampled_from(["x", "y", "z"]), st.sampled_from(STATUSES))),
    )
)
def test_decisions_follow_the_prerequisites(prereqs: dict[str, tuple[str, str] | None]) -> None:
    runs = {job_name: PrereqRun(*run) if run else None for job_name, run in prereqs.items()}
    decision = resolve([Waiting("r", "j", runs)]).get("r")
    statuses = [run.status for run in runs.values() if run]
    if any(s in UNSUCCESSFUL for s in statuses):
        assert isinstance(decision, Blocked)
    elif all(run is not None and run.status == "succeeded" for run in runs.values()):
        assert decision == READY
    else:
        assert decision is None

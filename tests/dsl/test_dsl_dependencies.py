"""A catalog's dependency edges come from one place, which the compiler's checks and the plan share."""

from __future__ import annotations

from dsl_support import Compile

from partout.actors.plan import make_plan
from partout.dsl.dependencies import Edge, dependency_graph, edges, hard_dependencies
from partout.modules import registry

POLICY = (
    'p2.probe("conf")\n'
    'p2.probe("app", require="probe:conf", before="probe:web")\n'
    'p2.probe("web", on={"probe:conf:changed": "refresh"})\n'
    'p2.on("probe:app:failed", p2.probe("alert"), action="stop")\n'
)


def test_edges_follow_declaration_order_with_the_option_that_made_them(compile_text: Compile) -> None:
    catalog = compile_text(POLICY)
    assert list(edges(catalog.resources)) == [
        Edge(first="probe:conf", waiter="probe:app", option="require"),
        Edge(first="probe:app", waiter="probe:web", option="before"),
        Edge(first="probe:conf", waiter="probe:web", option="on", status="changed"),
        Edge(first="probe:app", waiter="probe:alert", option="on", status="failed"),
    ]


def test_a_before_edge_is_declared_by_the_earlier_resource_and_names_the_later() -> None:
    edge = Edge(first="probe:app", waiter="probe:web", option="before")
    assert (edge.declared_by, edge.named) == ("probe:app", "probe:web")
    require = Edge(first="probe:conf", waiter="probe:app", option="require")
    assert (require.declared_by, require.named) == ("probe:app", "probe:conf")


def test_the_catalog_graph_is_the_dependency_graph(compile_text: Compile) -> None:
    catalog = compile_text(POLICY)
    graph = dependency_graph(catalog.resources)
    assert graph == {
        "probe:conf": [],
        "probe:app": ["probe:conf"],
        "probe:web": ["probe:app", "probe:conf"],
        "probe:alert": ["probe:app"],
    }
    assert catalog.dependencies() == {rid: set(firsts) for rid, firsts in graph.items()}


def test_a_failure_handler_is_not_skipped_by_the_failure_it_handles(compile_text: Compile) -> None:
    hard = hard_dependencies(compile_text(POLICY).resources)
    assert hard == {
        "probe:conf": set(),
        "probe:app": {"probe:conf"},
        "probe:web": {"probe:app", "probe:conf"},
        "probe:alert": set(),
    }


def test_a_failure_handler_that_also_requires_its_source_is_skipped_by_it(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("app")\np2.on("probe:app:failed", p2.probe("alert", require="probe:app"), action="stop")\n')
    assert hard_dependencies(catalog.resources)["probe:alert"] == {"probe:app"}


def test_the_plan_waits_for_every_edge_and_skips_by_the_hard_ones(compile_text: Compile) -> None:
    catalog = compile_text(POLICY)
    plan = make_plan(catalog, {"probe": registry.get("probe")})
    for edge in edges(catalog.resources):
        assert edge.first in plan.waits[edge.waiter]
    assert plan.hard == hard_dependencies(catalog.resources)
    assert plan.order.index("probe:app") < plan.order.index("probe:web")

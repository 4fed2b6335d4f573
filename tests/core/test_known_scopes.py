"""Listings on a scope: a scope is looked up before its first listing and after an empty one (one found gone
stays unknown); a selector field no listing takes is refused."""

from __future__ import annotations

import pytest

from airflow_remote_tasks.core.errors import ConfigurationError, NotFoundError
from airflow_remote_tasks.core.listing import KnownScopes, check_selector_fields
from airflow_remote_tasks.core.operation import HttpRequest, Operation
from airflow_remote_tasks.core.replay import Replay, reply

API = "https://api.example.com"


def look_up() -> Operation[None]:
    response = yield HttpRequest("GET", f"{API}/projects/p")
    if response.status == 404:
        raise NotFoundError("There is no project 'p' (the selector's 'project').", status=404)
    return None


def listing() -> Operation[list[object]]:
    response = yield HttpRequest("GET", f"{API}/runs")
    return list(response.json())


def paths(replay: Replay) -> list[str]:
    return [r.url.path for r in replay.requests]


def test_a_scope_is_looked_up_first_then_only_after_an_empty_listing() -> None:
    scopes: KnownScopes[str] = KnownScopes()
    replay = Replay([reply(json={}), reply(json=[1]), reply(json=[2]), reply(json=[]), reply(json={})])
    assert replay.run(scopes.listing("p", look_up, listing)) == [1]
    assert replay.run(scopes.listing("p", look_up, listing)) == [2]
    assert replay.run(scopes.listing("p", look_up, listing)) == []
    assert paths(replay) == ["/projects/p", "/runs", "/runs", "/runs", "/projects/p"]


def test_a_scope_found_gone_is_forgotten_and_looked_up_again() -> None:
    scopes: KnownScopes[str] = KnownScopes()
    Replay([reply(json={}), reply(json=[1])]).run(scopes.listing("p", look_up, listing))
    gone = Replay([reply(json=[]), reply(status=404, json={"detail": "no"})])
    with pytest.raises(NotFoundError, match="the selector's 'project'"):
        gone.run(scopes.listing("p", look_up, listing))
    replay = Replay([reply(json={}), reply(json=[1])])
    assert replay.run(scopes.listing("p", look_up, listing)) == [1]
    assert paths(replay) == ["/projects/p", "/runs"]  # looked up before the listing again
    assert Replay([reply(json={}), reply(json=[1])]).run(scopes.listing("q", look_up, listing)) == [1]


def test_a_selector_field_the_listing_does_not_take_is_refused_naming_those_it_takes() -> None:
    check_selector_fields({"project": "p"}, ("project", "status"), "Toy selectors")
    with pytest.raises(ConfigurationError) as raised:
        check_selector_fields({"project": "p", "b": 1, "a": 2}, ("project", "status"), "Toy selectors")
    assert str(raised.value) == "Toy selectors take project, status; 'a', 'b' is not one of them."

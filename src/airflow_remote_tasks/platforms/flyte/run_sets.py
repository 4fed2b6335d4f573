"""Sets of Flyte runs: selectors, listings (ListRuns) and the project lookup that keeps an unknown project
from listing as "no runs"."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sized
from typing import Any, TypeVar

from airflow_remote_tasks.core.errors import (
    ApiError,
    ConfigurationError,
    NotFoundError,
    UnexpectedAnswerError,
)
from airflow_remote_tasks.core.listing import KnownScopes, check_selector_fields
from airflow_remote_tasks.core.models import ListedRun
from airflow_remote_tasks.core.operation import Operation
from airflow_remote_tasks.core.paging import Page, all_pages
from airflow_remote_tasks.platforms.flyte.api import GET_PROJECT, LIST_RUNS_LIMIT, RUN_SERVICE, FlyteApi
from airflow_remote_tasks.platforms.flyte.runs import listed_name, parse_action_status

SELECTOR_FIELDS = ("project", "domain", "task_name", "labels")
L = TypeVar("L", bound=Sized)  # a listing: empty or not


def check_selector(selector: Mapping[str, Any]) -> dict[str, Any]:
    """:raises ConfigurationError: naming an unknown field or a value of the wrong type, or for a selector
    with neither a task name nor labels."""
    check_selector_fields(selector, SELECTOR_FIELDS, "Flyte run selectors")
    for name in ("project", "domain", "task_name"):
        if name in selector and not isinstance(selector[name], str):
            raise ConfigurationError(f"The selector's {name!r} must be a string, not {selector[name]!r}.")
    labels = selector.get("labels", {})
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigurationError("The selector's 'labels' must map label names to string values.")
    if not selector.get("task_name") and not labels:
        raise ConfigurationError(
            "A Flyte run selector needs 'task_name' or 'labels': a whole project's runs are no set to wait on."
        )
    return dict(selector)


class RunSets:
    """Listings of one connection's runs, and the (project, domain) pairs seen to exist (kept as long as
    their listings find runs; forgotten when a lookup says they are gone)."""

    def __init__(self, api: FlyteApi) -> None:
        self.api = api
        self._known_projects: KnownScopes[tuple[str, str]] = KnownScopes()

    def list_runs(self, selector: Mapping[str, Any]) -> Operation[list[ListedRun]]:
        """ListRuns in the selector's project and domain, filtered by task name and labels, every page.

        ListRuns answers an unknown project or domain with an empty list, so the project is looked up before
        the first listing and again whenever a listing comes back empty (never when it lists runs).

        :raises NotFoundError: the project does not exist or has no such domain, naming the field that says so.
        :raises ConfigurationError: the server does not filter by label (open-source Flyte) and labels were given.
        """
        config = self.api.config
        project = {
            "organization": config.org,
            "name": selector.get("project") or config.project,
            "domain": selector.get("domain") or config.domain,
        }
        filters = []
        if selector.get("task_name"):
            filters.append({"function": "EQUAL", "field": "task_name", "values": [selector["task_name"]]})
        filters += [
            {"function": "EQUAL", "field": f"labels.{key}", "values": [value]}
            for key, value in (selector.get("labels") or {}).items()
        ]

        def page(token: str | None) -> Operation[Page[ListedRun]]:
            request: dict[str, Any] = {"limit": LIST_RUNS_LIMIT, "filters": filters}
            if token:
                request["token"] = token
            try:
                body = yield from self.api.call(
                    f"{RUN_SERVICE}/ListRuns", {"projectId": project, "request": request}
                )
            except ApiError as error:
                if error.code == "invalid_argument" and "label" in str(error) and selector.get("labels"):
                    raise ConfigurationError(
                        f"This Flyte server does not filter runs by label ({error}); open-source Flyte rejects "
                        "labels.* filters, Union accepts them. Select the runs by 'task_name' instead."
                    ) from None
                raise
            runs = [
                ListedRun(run_id=listed_name(run), status=parse_action_status(run.get("action", {})))
                for run in body.get("runs", [])
            ]
            return runs, body.get("token") or None

        return (yield from self.in_known_project(selector, lambda: all_pages(page)))

    def in_known_project(
        self, selector: Mapping[str, Any], listing: Callable[[], Operation[L]]
    ) -> Operation[L]:
        """``listing()``, a listing in the project and domain ``selector`` names (the connection's where it
        names none), with the project looked up as :meth:`list_runs` does it.

        :raises NotFoundError: the project does not exist or has no such domain, naming the field that says so.
        """
        config = self.api.config
        project, domain = selector.get("project") or config.project, selector.get("domain") or config.domain

        def look_up() -> Operation[None]:
            return self._check_project(selector, project, domain)

        return (yield from self._known_projects.listing((project, domain), look_up, listing))

    def _check_project(self, selector: Mapping[str, Any], project: str, domain: str) -> Operation[None]:
        """GetProject (flyteidl2's ProjectService, which the SDK's ``Project.get`` calls); a server without that
        service cannot tell, and its listings stand as they are.

        :raises NotFoundError: no such project, or the project has no such domain.
        """
        config = self.api.config
        named = {
            name: f"the selector's {name!r}"
            if selector.get(name)
            else f"the connection's {name.capitalize()}"
            for name in ("project", "domain")
        }
        try:
            body = yield from self.api.call(GET_PROJECT, {"id": project, "org": config.org})
        except NotFoundError:
            raise NotFoundError(
                f"There is no Flyte project {project!r} ({named['project']}) at {config.endpoint}"
                + (f" in org {config.org!r}" if config.org else "")
                + ". Fix the project's name.",
                status=404,
                code="not_found",
            ) from None
        except UnexpectedAnswerError:
            body = None  # no project service at this address (a plain 404 page): the listing answers alone
        except ApiError as error:
            if error.code != "unimplemented":
                raise
            body = None
        domains = [
            str(d.get("id") or d.get("name"))
            for d in ((body or {}).get("project") or {}).get("domains") or []
            if isinstance(d, dict)
        ]
        if domains and domain not in domains:
            raise NotFoundError(
                f"Flyte project {project!r} has no domain {domain!r} ({named['domain']}); its domains are "
                f"{', '.join(domains)}.",
                status=404,
                code="not_found",
            )
        return None

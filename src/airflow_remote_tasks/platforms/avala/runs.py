"""What an Avala run is, whatever its kind (an annotation task, an export, an auto-label job): its reference
with its link into the app, and its status in the words of the connection's tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_remote_tasks.core.models import RunRef, RunStatus
from airflow_remote_tasks.core.operation import Operation, path_segment
from airflow_remote_tasks.core.phases import Phase, phase_of_word
from airflow_remote_tasks.platforms.avala import PLATFORM
from airflow_remote_tasks.platforms.avala.api import AvalaApi
from airflow_remote_tasks.platforms.avala.config import LINK_PATHS, STATUS_WORDS, AvalaConfig
from airflow_remote_tasks.platforms.avala.wire import api_path

# The API collection each kind of run is read from.
PATHS = {"task": "tasks", "export": "exports", "auto_label": "auto-label-jobs"}


def kind_of(ref: RunRef) -> str:
    """The kind of run ``ref`` names (a reference without one is an annotation task's, as ``find_run`` makes)."""
    return str(ref.scope.get("kind", "task"))


def read(api: AvalaApi, ref: RunRef) -> Operation[dict[str, Any]]:
    """The run as the API answers it now. Raises as :meth:`.AvalaApi.call` (NotFoundError: it is gone)."""
    found = yield from api.call("GET", api_path(PATHS[kind_of(ref)], ref.run_id))
    return dict(found)


def ref_of(config: AvalaConfig, kind: str, uid: str, project: str = "", *, dataset: str = "") -> RunRef:
    """The run's reference, its link into the app (none where its project or dataset is not known)."""
    link = LINK_PATHS["dataset_export" if kind == "export" and dataset else kind]
    names = {"uid": uid, "project": project, "dataset": dataset}
    needed = [name for name in names if f"{{{name}}}" in link]
    url = ""
    if all(names[name] for name in needed):
        url = f"{config.app_url}/" + link.format(**{n: path_segment(names[n]) for n in needed})
    return RunRef(platform=PLATFORM.name, run_id=uid, scope={"kind": kind, "project": project}, url=url)


class StatusWords:
    """The built-in status tables of each kind of run, with the connection's Status words over all of them."""

    def __init__(self, overrides: Mapping[str, str]) -> None:
        self.words = {kind: dict(table) for kind, table in STATUS_WORDS.items()}
        for word, phase in overrides.items():
            for table in self.words.values():
                table[word] = Phase(phase)

    def phase(self, kind: str, word: str) -> Phase:
        hint = " Add it to the connection's Status words to say what it means."
        return phase_of_word(word, self.words[kind], f"Avala {kind} status", hint)

    def status_of(self, kind: str, found: Mapping[str, Any]) -> RunStatus:
        """The status of ``found`` (a run of ``kind`` as the API answers it), with its error once it failed."""
        word = str(found.get("status") or "unknown")
        phase = self.phase(kind, word)
        percent = found.get("progress_pct")
        message = str(found.get("error_message") or "") if phase.is_terminal and not phase.is_success else ""
        return RunStatus(
            phase=phase,
            raw_phase=word,
            message=message,
            percent=float(percent) if isinstance(percent, int | float) else None,
        )

"""A platform, declared once: everything outside its package that needs to know of it reads this.

Provider info (connection types and their forms, hooks), hook lookup by connection type and by run
reference, the public names and the ``remote-tasks emulator`` commands are all derived from the
declarations in :mod:`airflow_remote_tasks.platforms`. Adding a platform is a new package with a
``PLATFORM`` declaration and one line in that registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlatformDeclaration:
    name: str  # in run references and trigger kwargs: never renamed once released
    label: str  # what a person calls it: "Flyte 2 / Union"
    hook: str  # dotted path of the hook class, imported when first used
    docs_url: str
    # The connection form: Airflow's "ui-field-behaviour" and "conn-fields" (the transport fields every
    # connection type has are added to these).
    field_behaviour: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    emulator: str = ""  # dotted path of the module behind ``remote-tasks emulator <name>``
    # What a run id of this platform looks like (a full match), and how to say so: an id is checked before
    # it goes into any URL, so ``../users/me`` can never name another resource. The default takes the
    # letters, digits and ``_ - . :`` every platform's ids are made of, and no ``/``.
    run_id_pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}"
    run_id_example: str = ""  # e.g. "a UUID such as 0b6d...": shown in the error

    @property
    def conn_type(self) -> str:
        # Prefixed, so it cannot collide with another provider's (flyteorg's registers plain "flyte").
        return f"remote_tasks_{self.name}"

    @property
    def hook_name(self) -> str:
        return f"{self.label} (remote tasks)"

    @property
    def hook_class_name(self) -> str:
        return self.hook.rsplit(".", 1)[1]

    @property
    def hook_module(self) -> str:
        return self.hook.rsplit(".", 1)[0]

    def check_run_id(self, run_id: Any, what: str = "run_id") -> str:
        """``run_id`` as this platform's run id, stripped.

        :raises ConfigurationError: naming ``what`` and the form expected, when it is not a string of that form.
        """
        # Imported here: provider info reads declarations while Airflow itself is still being imported.
        from airflow_remote_tasks.core.errors import ConfigurationError

        text = run_id.strip() if isinstance(run_id, str) else run_id
        if not isinstance(text, str) or not re.fullmatch(self.run_id_pattern, text):
            expected = self.run_id_example or f"an id matching {self.run_id_pattern}"
            raise ConfigurationError(
                f"{what}={run_id!r} is not a valid {self.label} run id: expected {expected}. Pass the id the "
                "platform shows for the run, not a path or URL."
            )
        return text

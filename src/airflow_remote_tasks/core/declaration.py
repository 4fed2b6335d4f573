"""A platform, declared once: everything outside its package that needs to know of it reads this.

Provider info (connection types and their forms, hooks), hook lookup by connection type and by run
reference, the public names and the ``remote-tasks emulator`` commands are all derived from the
declarations in :mod:`airflow_remote_tasks.platforms`. Adding a platform is a new package with a
``PLATFORM`` declaration and one line in that registry.
"""

from __future__ import annotations

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

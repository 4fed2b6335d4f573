"""Toy: a platform made of this declaration and one small operations module, to show what adding one takes."""

from __future__ import annotations

from airflow_remote_tasks.core.declaration import PlatformDeclaration, StandardField

PLATFORM = PlatformDeclaration(
    name="toy",
    label="Toy",
    hook="toy_platform.hook.ToyHook",
    platform="toy_platform.operations.ToyPlatform",
    docs_url="https://example.com/toy",
    shown={"host": StandardField("Base URL", "http://127.0.0.1:<port>"), "port": StandardField()},
    emulator="toy_platform.emulator",
    run_id_pattern=r"run-[0-9]+",
    run_id_example="a run id such as run-1",
)

"""What a run did, resource by resource: the one shape the CLI prints, the agent
publishes and the master stores.

The engine builds results and reports with `model_construct` from values it typed itself
(mypy checks those calls through the pydantic plugin): validating them again would cost a
schema build per model and a validation per resource. defer_build: the schemas are built
when a report is first validated or serialised (the agent publishing it, `--json`, the
master reading it), which is where a report crosses a boundary."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    SKIPPED = "skipped"


class ResourceResult(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    status: Status
    summary: str = Field("", description="One line: what changed, why it failed or was skipped.")
    diff: str | None = None
    output: str | None = Field(None, description="Command output, truncated.")
    duration: float = Field(0.0, description="Seconds spent checking and applying.")
    hidden: bool = False


class Report(BaseModel):
    """Results in catalog order, whatever order the resources finished in."""

    model_config = ConfigDict(defer_build=True)

    v: int = 1
    policy: str
    hostname: str = ""
    noop: bool = False
    started_at: datetime
    duration: float = 0.0
    results: list[ResourceResult] = Field(default_factory=list)
    trigger: str = Field("run", description="run, watch (drift repair), interval, control.")

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status is status)

    @property
    def failed(self) -> bool:
        return self.count(Status.FAILED) > 0

    def summary_line(self) -> str:
        changed = "would change" if self.noop else "changed"
        return (
            f"{len(self.results)} resources: {self.count(Status.CHANGED)} {changed}, "
            f"{self.count(Status.FAILED)} failed, {self.count(Status.SKIPPED)} skipped "
            f"in {self.duration:.2f} s"
        )

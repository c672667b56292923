"""Department configuration: ``config/departments/<name>.yaml``.

A department is configuration, not code: its transport (discriminated by ``kind``; the settings
of each kind are in ``hub.config.transports``), its
declarative field mapping from the unified case, its code tables, retry tiers, rate limit and
circuit breaker. Wire files (WSDL, file specs) are referenced by paths relative to the YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.config.transports import RestTransport, SftpTransport, SoapTransport, Transport
from hub.domain.retry import RetryTiers

__all__ = ["CircuitPolicy", "DepartmentConfig", "FieldMap", "Mapping", "RestTransport", "RetryPolicy",
           "SftpTransport", "SoapTransport", "Transform", "Transport"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Model):
    quick_attempts: int = Field(default=3, ge=1, le=10, description="in-process tries per delivery")
    quick_wait_s: float = Field(default=0.2, ge=0, le=30)
    tiers_s: tuple[float, ...] = (10.0, 60.0, 600.0, 3600.0)
    delivery_limit: int = Field(default=20, ge=1, le=1000)

    def tiers(self) -> RetryTiers:
        return RetryTiers(tiers_s=self.tiers_s, delivery_limit=self.delivery_limit)


class CircuitPolicy(_Model):
    failures: int = Field(default=5, ge=1, description="consecutive transient failures to open")
    probe_after_s: float = Field(default=15.0, gt=0)


HOUSEHOLD_RELATIONS = ("spouse", "child", "parent", "other")


class Transform(_Model):
    kind: Literal["code_table", "date", "upper", "strip", "constant", "gender_code", "members"]
    table: str | None = None  # code_table; members: the relation code table (optional)
    format: str | None = None  # date: strftime format
    value: str | None = None  # constant


class FieldMap(_Model):
    target: str = Field(min_length=1)
    source: str | None = Field(default=None, description="dotted path in the unified case")
    transforms: tuple[Transform, ...] = ()
    required: bool = True
    max_length: int | None = Field(default=None, ge=1)


class Mapping(_Model):
    fields: tuple[FieldMap, ...]

    def source_paths(self) -> set[str]:
        """The case paths the mapping reads; ``household`` reads the name and ID number of
        every household member, so it stands for those paths too."""
        paths = {f.source for f in self.fields if f.source}
        if "household" in paths:
            paths |= {f"related.{r}.{k}" for r in HOUSEHOLD_RELATIONS for k in ("name", "id_number")}
        return paths


class SimulatorHints(_Model):
    """Read only by the reference simulators (``simulators/generic.py``), never by the hub."""

    receipt_prefix: str = Field(default="", pattern=r"^[A-Z]{0,4}$",
                                description="prefix of the simulated department's receipt numbers")


class DepartmentConfig(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(description="the department's Chinese name, e.g. 人社")
    transport: Transport
    mapping: Mapping
    code_tables: tuple[str, ...] = Field(default=(), description="names under config/codes/")
    retry: RetryPolicy = RetryPolicy()
    rate_limit_per_s: float = Field(default=50.0, gt=0)
    circuit: CircuitPolicy = CircuitPolicy()
    simulator: SimulatorHints = SimulatorHints()
    source_file: Path | None = Field(default=None, exclude=True)

    def resolve(self, relative: str) -> Path:
        """A wire-file path from the YAML, resolved against the YAML's folder."""
        base = self.source_file.parent if self.source_file else Path.cwd()
        return (base / relative).resolve()

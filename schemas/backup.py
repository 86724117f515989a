"""The Backup kind: one archive of a container's rootfs and spec, made by the kubelet of its node."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field, field_validator

from schemas.base import ConfigSafeStr, DnsLabel, Model
from schemas.meta import ObjectMeta

__all__ = ["BACKUP_PHASES", "Backup", "BackupPolicy", "BackupSpec", "BackupStatus", "backup_name", "check_schedule", "spec_document"]

BACKUP_PHASES = ("Pending", "Running", "Completed", "Failed")


def backup_name(container: str, when: datetime) -> str:
    """NAME-YYYYMMDD-HHMMSS (UTC). A name too long for the whole to stay a DNS-1123 label is cut and
    followed by a digest of all of it: cut alone, two containers alike in their first 47 characters
    got one name for a schedule's shared time, and the second's backup was taken for the first's."""
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    room = 63 - len(stamp) - 1
    if len(container) <= room:
        return f"{container}-{stamp}"
    digest = hashlib.sha256(container.encode()).hexdigest()[:6]
    return f"{container[:room - len(digest) - 1].rstrip('-')}-{digest}-{stamp}"


def spec_document(container: Any) -> Any:
    """What an archive keeps of a Container: enough to create it again, nothing bound to where it ran
    (nor the annotations that asked a kubelet for something once: a restored copy must not ask again)."""
    from schemas.wire import ADOPTED_ROOTFS_ANNOTATION, KEEP_ROOTFS_ANNOTATION, RESTART_ANNOTATION, RESTORE_ANNOTATION

    one_shot = (RESTART_ANNOTATION, RESTORE_ANNOTATION, ADOPTED_ROOTFS_ANNOTATION, KEEP_ROOTFS_ANNOTATION)
    meta = container["metadata"]
    spec = {k: v for k, v in container["spec"].items() if k != "nodeName"}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in one_shot}
    return {"metadata": {"name": meta["name"], "labels": meta.get("labels") or {}, "annotations": annotations}, "spec": spec}


def check_schedule(value: str) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week), else ValueError saying so."""
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression: use five fields, minute hour day-of-month month "
                         "day-of-week, e.g. '0 3 * * *' for 03:00 every day")
    return value


class BackupPolicy(Model):
    """Scheduled backups of a container, made by the controller and pruned to `keep`."""

    schedule: str = Field(description="Cron expression (5 fields) in the controller's local timezone, e.g. '0 3 * * *'.")
    keep: int = Field(default=7, ge=1, le=1000, description="How many scheduled backups to keep; older ones are deleted.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_schedule(value)


class BackupSpec(Model):
    container: DnsLabel = Field(description="The container to back up (its name).")


class BackupStatus(Model):
    phase: Literal["Pending", "Running", "Completed", "Failed"] = "Pending"
    message: ConfigSafeStr = ""
    node: str | None = Field(default=None, description="The node whose kubelet made the archive.")
    location: str | None = Field(default=None, description="The archive's path on that node (in its --backup-dir).")
    size: int | None = Field(default=None, ge=0, description="Bytes of the compressed archive.")
    rootfs_bytes: int | None = Field(default=None, ge=0, description="Bytes of file data archived (before compression).")
    files: int | None = Field(default=None, ge=0, description="Entries in the archive's rootfs.")
    checksum: str | None = Field(default=None, description="sha256:HEX of the archive file.")
    duration_seconds: float | None = Field(default=None, ge=0)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    consistency: str | None = Field(default=None, description="How the copy was kept consistent: frozen, or stopped.")
    container_uid: str | None = Field(default=None, description="metadata.uid of the container backed up: a failover restores only its own backups.")
    container_spec: dict[str, Any] | None = Field(
        default=None, description="The container's spec at backup time: what `dlxc backup restore` creates again."
    )
    container_metadata: dict[str, Any] | None = Field(
        default=None, description="The container's labels and annotations at backup time (one-shot requests left out): "
                                  "what `dlxc backup restore` gives the new container."
    )


class Backup(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Backup"] = "Backup"
    metadata: ObjectMeta
    spec: BackupSpec
    status: BackupStatus = Field(default_factory=BackupStatus)

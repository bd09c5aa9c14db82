"""One exception base for kseg, with a few subclasses that carry data.

Messages say what is wrong, where, and how to fix it. The CLI prints ``str(error)`` as one
line on stderr and exits with ``error.exit_code`` (2: usage or input error).
"""

from __future__ import annotations

from typing import Any


class KsegError(Exception):
    """Base of every error kseg raises on purpose (user mistakes, bad input, bad snapshots)."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class SnapshotError(KsegError):
    """A folder is not a snapshot, is of another schema version, or has a damaged file."""


class SchemaError(KsegError):
    """A frame does not match the declared schema of its table."""

    def __init__(self, message: str, *, table: str | None = None, column: str | None = None,
                 rows: Any = None, path: str | None = None, hint: str | None = None):
        super().__init__(message, path=path, hint=hint)
        self.table = table
        self.column = column
        self.rows = rows


class InputError(KsegError):
    """An input file (manifest, dump, flow log) cannot be read; names file, line and field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None, hint: str | None = None):
        where = path or ""
        if path and line is not None:
            where = f"{path}:{line}"
        if field:
            where = f"{where} field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message, path=path, hint=hint)
        self.line = line
        self.field = field


class CollectError(KsegError):
    """The live collector could not read the cluster (permissions, connection, API errors)."""


class MissingDependencyError(KsegError):
    """An optional extra is needed; the message names the pip command that installs it."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(f"{purpose} needs the optional package {package!r}",
                         hint=f"install it with: pip install 'kseg[{extra}]'")
        self.package = package
        self.extra = extra

"""What every part of backup and restore shares: the error they stop with, the mode of the
files they write, and the batch size rows are read and written in."""

from __future__ import annotations

FILE_MODE = 0o600
_BATCH = 1000


class BackupError(Exception):
    """A backup or restore that can't go on; the message says why and what to do."""

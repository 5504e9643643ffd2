"""Staging labels: which version carries which label, and how each operation moves them.

Pure functions over a label map {label: version id} (one version per label is the map's
shape itself).  The rules, from AWS's API reference and responses recorded against AWS:

- a new value without explicit labels (PutSecretValue, UpdateSecret) gets AWSCURRENT; the
  version that had AWSCURRENT gets AWSPREVIOUS (and loses AWSPENDING, if it carried it);
- explicit labels move to the new version from wherever they were; AWSCURRENT moves only
  if listed, and then AWSPREVIOUS follows as above;
- a secret's first version always gets AWSCURRENT;
- UpdateSecretVersionStage moves one label, and must name the version it leaves.
"""

from __future__ import annotations

from typing import Optional

from paramstore.secrets.errors import InvalidParameterException, InvalidRequestException, LimitExceededException

CURRENT, PREVIOUS, PENDING = "AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"
MAX_LABELS = 20


def by_version(stages: dict[str, str]) -> dict[str, list[str]]:
    """version id -> its labels (sorted, AWS's reserved labels first)."""
    out: dict[str, list[str]] = {}
    for stage in sorted(stages, key=lambda s: (not s.startswith("AWS"), s)):
        out.setdefault(stages[stage], []).append(stage)
    return out


def _move_current(stages: dict[str, str], version_id: str) -> None:
    old = stages.get(CURRENT)
    stages[CURRENT] = version_id
    if old is not None and old != version_id:
        stages[PREVIOUS] = old


def after_new_version(stages: dict[str, str], version_id: str, requested: Optional[list[str]]) -> dict[str, str]:
    """The labels once `version_id` is added with `requested` (None = the default)."""
    out = dict(stages)
    first = CURRENT not in out
    if requested is None:
        old = out.get(CURRENT)
        if old is not None and out.get(PENDING) == old:
            del out[PENDING]  # the outgoing current version's rotation is over
        _move_current(out, version_id)
    else:
        for label in dict.fromkeys(requested):
            if label == CURRENT:
                _move_current(out, version_id)
            else:
                out[label] = version_id
        if first:
            out[CURRENT] = version_id
    check_count(out)
    return out


def after_stage_update(stages: dict[str, str], label: str, remove_from: Optional[str],
                       move_to: Optional[str]) -> dict[str, str]:
    """UpdateSecretVersionStage."""
    out = dict(stages)
    holder = out.get(label)
    if holder is not None and holder != move_to:
        if remove_from is None:
            raise InvalidParameterException(
                f"The parameter RemoveFromVersionId can't be empty. Staging label {label} is currently attached "
                f"to version {holder}, so you must explicitly reference that version in RemoveFromVersionId.")
        if remove_from != holder:
            raise InvalidParameterException(
                f"The staging label {label} is currently attached to version {holder}, not to version "
                f"{remove_from}.")
    elif remove_from is not None and holder != remove_from:
        raise InvalidParameterException(
            f"The staging label {label} is not attached to version {remove_from}.")
    if move_to is None:
        if label == CURRENT and holder is not None:  # a secret with a value always has an AWSCURRENT version
            raise InvalidParameterException("You can only move staging label AWSCURRENT to a different secret "
                                            "version. It can't be completely removed.")
        if holder is not None:
            del out[label]
        return out
    if label == CURRENT:
        _move_current(out, move_to)
    else:
        out[label] = move_to
    check_count(out)
    return out


def check_count(stages: dict[str, str]) -> None:
    if len(stages) > MAX_LABELS:
        raise LimitExceededException(f"A secret can have at most {MAX_LABELS} staging labels across its versions.")


def check_requested(labels: list[str]) -> None:
    if not labels:
        raise InvalidRequestException("You must provide at least one staging label.")

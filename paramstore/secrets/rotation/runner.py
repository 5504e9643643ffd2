"""Carrying out rotations: the four steps AWS runs against a rotation Lambda
(createSecret -> setSecret -> testSecret -> finishSecret), in a background thread.

RotateSecret (or the sweeper, when a schedule falls due) has already registered the new
version's id as an empty AWSPENDING version, as AWS does before it invokes the function.
A generator's steps run here, through the same operations an API caller uses, as the
secret's account through the service (so the KMS key policy must let the account use the
key via secretsmanager.<region>.amazonaws.com, as AWS-written key policies do); a
webhook's steps are its own business, done with its own credentials through the API.
When all four succeed, AWSPENDING is taken off the new version and LastRotatedDate set;
if any fails, nothing more happens: AWSCURRENT stays where it was and the failure is in
the audit trail (RotationFailed, with the step and why).

Rotations run in the background because a webhook calls back into this server: waiting
for it inside its own request would wait on itself.  The runner's thread only waits (on a
webhook, on the database worker): every read and write of the store it needs is handed to
the server's database worker (`use_worker`), the one thread that fills and drops the
caches (paramstore/db_worker.py), so no cache is refilled from one thread while another
drops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from kms_core.audit import AuditEvent, begin_request, end_request
from kms_core.domain.errors import AwsError
from kms_core.domain.principal import ROOT, Principal
from kms_core.protocol.awsjson import new_request_id
from paramstore.secrets import stages as labels
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.operations import values
from paramstore.secrets.operations.random_password import random_password
from paramstore.secrets.rotation.schedule import next_rotation
from paramstore.secrets.rotation.targets import Generator, RotationStepFailed, Target
from paramstore.secrets.storage import repository

if TYPE_CHECKING:
    from paramstore.secrets.store import SecretStore

log = logging.getLogger("paramstore.secrets")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
_SOURCE = "secretsmanager.amazonaws.com"
T = TypeVar("T")


@dataclass(frozen=True)
class RotationJob:
    account_id: str
    region: str
    name: str
    arn: str
    token: str
    lambda_arn: str


class RotationRunner:
    def __init__(self, store: "SecretStore") -> None:
        self.store = store
        self._jobs: "queue.Queue[RotationJob]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._worker: Any = None
        self._event_loop: Optional[asyncio.AbstractEventLoop] = None

    def use_worker(self, worker: Any, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        """Run the store's work on the server's database worker (None: on the runner's own
        thread, for a store used without a server)."""
        self._worker, self._event_loop = worker, loop

    def _on_worker(self, work: Callable[[], T]) -> T:
        if self._worker is None or self._event_loop is None:
            return work()
        return asyncio.run_coroutine_threadsafe(self._worker.run(work), self._event_loop).result()

    def submit(self, job: RotationJob) -> None:
        with self._lock:
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="paramstore-rotation", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def wait_idle(self, timeout: float) -> bool:
        """Until every submitted rotation has finished (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                self.run(job)
            except Exception:  # a bug: the rotation failed; the runner keeps going
                log.exception("rotation of %s failed unexpectedly", job.arn)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    # --- one rotation ---------------------------------------------------------------------
    def run(self, job: RotationJob) -> bool:
        target = self.store.rotation_targets.resolve(job.lambda_arn, job.account_id, job.region)
        step = STEPS[0]
        try:
            if target is None:
                raise RotationStepFailed(f"the rotation target {job.lambda_arn} is not configured on this server")
            # the account itself, through the service: who a generator's steps run as
            account = Principal(job.account_id, f"arn:aws:iam::{job.account_id}:root", ROOT, "", None, job.account_id)
            for step in STEPS:
                self._step(job, account, target, step)
            self._on_worker(lambda: self._finish(job, None, None))
            return True
        except (RotationStepFailed, AwsError) as failure:
            reason = str(failure) if isinstance(failure, RotationStepFailed) else f"{failure.code}: {failure.message}"
            log.warning("rotation of %s failed at %s: %s", job.arn, step, reason)
            self._on_worker(lambda: self._finish(job, step, reason))
            return False

    def _step(self, job: RotationJob, account: Principal, target: Target, step: str) -> None:
        if isinstance(target, Generator):
            self._on_worker(lambda: self._as_service(job, account, step,
                                                     lambda ctx: _GENERATOR_STEPS[step](ctx, job, target)))
        else:
            target.invoke(step, job.arn, job.token)  # waits on the network, not on the worker

    def _as_service(self, job: RotationJob, account: Principal, step: str,
                    work: Callable[[SecretsContext], None]) -> None:
        """A generator's step, as the account through the service, audited as such."""
        ctx = SecretsContext(self.store.kms, account, job.region, new_request_id(), step, secrets=self.store)
        audit_log = self.store.db.audit_log

        def make_event() -> AuditEvent:
            return AuditEvent(event_time=ctx.now(), request_id=ctx.request_id, event_source=_SOURCE,
                              event_name=ctx.operation, region=job.region, account_id=job.account_id,
                              principal_arn=_SOURCE, resources=list(ctx.resources),
                              detail={"rotationStep": step, "versionId": job.token})

        if audit_log is not None:
            begin_request(audit_log, make_event)
        try:
            work(ctx)
        finally:
            if audit_log is not None:
                end_request()

    def _finish(self, job: RotationJob, failed_step: Optional[str], reason: Optional[str]) -> None:
        """Success: AWSPENDING off the new version, LastRotatedDate; either way a record."""
        store = self.store
        now = store.clock()
        detail = {"versionId": job.token, "rotationTarget": job.lambda_arn}
        if failed_step is not None:
            detail.update(failedStep=failed_step, reason=reason or "")
        event = AuditEvent(event_time=now, request_id=new_request_id(), event_source=_SOURCE,
                           event_name="RotationFailed" if failed_step else "RotationSucceeded", region=job.region,
                           account_id=job.account_id, principal_arn=_SOURCE, resources=[job.arn], detail=detail)
        with store.write([event]) as session:
            row = repository.find_secret(session, job.account_id, job.region, job.name, lock=True)
            if row is None or row.arn != job.arn or failed_step is not None:
                return
            before = repository.stages_of(session, row.id)
            if before.get(labels.CURRENT) != job.token:
                event.event_name = "RotationFailed"
                detail.update(failedStep="finishSecret", reason="finishSecret did not move AWSCURRENT to the new "
                                                                "version")
                return
            after = dict(before)
            if after.get(labels.PENDING) == job.token:
                del after[labels.PENDING]
            repository.replace_stages(session, row.id, before, after)
            row.last_rotated_date = now
            if row.rotation_enabled and row.rotation_rules and row.deleted_date is None:
                row.next_rotation_date = next_rotation(json.loads(row.rotation_rules), now)
            session.add(row)


# --- the built-in generator, step by step (what AWS's single-user rotation template does) ---
def _create(ctx: SecretsContext, job: RotationJob, target: Generator) -> None:
    secret = ctx.secrets.secret(job.account_id, job.region, job.name)
    if secret is None or secret.arn != job.arn:
        raise RotationStepFailed("the secret no longer exists")
    pending = ctx.secrets.version(secret, job.token)
    if pending is not None and pending.value_sealed is not None:
        return  # done by an earlier attempt
    password = random_password(target.length, target.exclude_characters)
    if target.field is None:
        new_value = password
    else:
        current = values.get_secret_value(ctx, {"SecretId": job.arn})
        try:
            document = json.loads(current.get("SecretString", ""))
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            raise RotationStepFailed(f"the current value is not a JSON object with a {target.field} field")
        document[target.field] = password
        new_value = json.dumps(document)
    ctx.operation = "PutSecretValue"
    values.put_secret_value(ctx, {"SecretId": job.arn, "ClientRequestToken": job.token, "SecretString": new_value,
                                  "VersionStages": [labels.PENDING]})


def _set(_ctx: SecretsContext, _job: RotationJob, _target: Generator) -> None:
    """Nothing to set: a generated value has no system of its own to change."""


def _test(ctx: SecretsContext, job: RotationJob, _target: Generator) -> None:
    ctx.operation = "GetSecretValue"
    values.get_secret_value(ctx, {"SecretId": job.arn, "VersionId": job.token, "VersionStage": labels.PENDING})


def _finish_step(ctx: SecretsContext, job: RotationJob, _target: Generator) -> None:
    secret = ctx.secrets.secret(job.account_id, job.region, job.name)
    current = ctx.secrets.stages(secret).get(labels.CURRENT) if secret is not None else None
    if current == job.token:
        return
    ctx.operation = "UpdateSecretVersionStage"
    values.update_secret_version_stage(ctx, {"SecretId": job.arn, "VersionStage": labels.CURRENT,
                                             "MoveToVersionId": job.token, "RemoveFromVersionId": current})


_GENERATOR_STEPS = {"createSecret": _create, "setSecret": _set, "testSecret": _test, "finishSecret": _finish_step}

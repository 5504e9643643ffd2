"""Secrets Manager pages: the Region's secrets (filtered by name), a secret's page
(versions and their stages, rotation, tags, deletion date), reveal of one version, and
create / new value / tag / delete and restore, through the Secrets Manager operations as
the signed-in principal.  Values reach a page only from a CSRF-checked POST
(GetSecretValue, audited as any SDK read).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi.responses import Response

from paramstore.console.backend import ConsoleError, Failure
from paramstore.console.web import Site, Visit, number, redirect

SM = "secretsmanager."


def register(site: Site) -> None:
    site.page("/secrets")(secrets)
    site.page("/secret")(secret)
    site.page("/secret/new")(new_secret)
    site.page("/secret/create", ("POST",))(create)
    site.page("/secret/value", ("POST",))(put_value)
    site.page("/secret/reveal", ("POST",))(reveal)
    site.page("/secret/tag", ("POST",))(tag)
    site.page("/secret/delete")(confirm_delete)
    site.page("/secret/delete", ("POST",))(delete)
    site.page("/secret/restore", ("POST",))(restore)


def _to(secret_id: str) -> Response:
    return redirect(f"/console/secret?id={quote(secret_id, safe='')}")


async def secrets(visit: Visit) -> Response:
    name = visit.arg("name").strip()
    body: dict = {"MaxResults": 50, "IncludePlannedDeletion": True, "SortOrder": "asc"}
    if name:
        body["Filters"] = [{"Key": "name", "Values": [name]}]
    if visit.arg("next"):
        body["NextToken"] = visit.arg("next")
    out = await visit.call(SM + "ListSecrets", body)
    return visit.page("secrets.html", secrets=out.get("SecretList", []), next_token=out.get("NextToken"), name=name)


async def secret(visit: Visit) -> Response:
    secret_id = visit.arg("id")
    meta = await visit.call(SM + "DescribeSecret", {"SecretId": secret_id})
    versions = await visit.call(SM + "ListSecretVersionIds", {"SecretId": meta["ARN"], "IncludeDeprecated": True,
                                                              "MaxResults": 100})
    return visit.page("secret.html", meta=meta, versions=versions.get("Versions", []))


async def new_secret(visit: Visit) -> Response:
    return visit.page("secret_form.html", form={})


async def create(visit: Visit) -> Response:
    f = visit.form
    body: dict = {"Name": f.get("name", ""), "SecretString": f.get("value", ""),
                  "ClientRequestToken": str(uuid.uuid4())}  # what an SDK fills in
    if f.get("description"):
        body["Description"] = f["description"]
    if f.get("key_id"):
        body["KmsKeyId"] = f["key_id"]
    if f.get("tag_key"):
        body["Tags"] = [{"Key": f["tag_key"], "Value": f.get("tag_value", "")}]
    try:
        out = await visit.call(SM + "CreateSecret", body)
    except ConsoleError as exc:  # the form again, without the value
        return visit.page("secret_form.html", status=400, form=dict(f, value=""), error=exc.failure)
    return _to(out["ARN"])


async def put_value(visit: Visit) -> Response:
    """A new version that becomes AWSCURRENT (PutSecretValue)."""
    secret_id = visit.form.get("id", "")
    await visit.call(SM + "PutSecretValue", {"SecretId": secret_id, "SecretString": visit.form.get("value", ""),
                                             "ClientRequestToken": str(uuid.uuid4())})
    return _to(secret_id)


async def reveal(visit: Visit) -> Response:
    body = {"SecretId": visit.form.get("id", "")}
    if visit.form.get("version"):
        body["VersionId"] = visit.form["version"]
    out = await visit.call(SM + "GetSecretValue", body)
    value = out.get("SecretString")
    if value is None:
        value = f"(binary, {len(out.get('SecretBinary') or '') * 3 // 4} bytes)"
    if visit.htmx:
        return visit.page("fragment_value.html", value=value)
    return visit.page("revealed.html", name=out["Name"], version=out["VersionId"], value=value,
                      back=f"/console/secret?id={quote(out['ARN'], safe='')}")


async def tag(visit: Visit) -> Response:
    secret_id = visit.form.get("id", "")
    await visit.call(SM + "TagResource", {"SecretId": secret_id, "Tags": [{"Key": visit.form.get("key", ""),
                                                                            "Value": visit.form.get("value", "")}]})
    return _to(secret_id)


async def confirm_delete(visit: Visit) -> Response:
    meta = await visit.call(SM + "DescribeSecret", {"SecretId": visit.arg("id")})
    return visit.page("confirm.html", title=f"Delete {meta['Name']}?", action="/console/secret/delete",
                      fields={"id": meta["ARN"]}, verb="Schedule deletion", danger=True, waiting=True,
                      detail="The secret can be restored until the recovery window ends; then every version "
                             "is deleted.", back=f"/console/secret?id={quote(meta['ARN'], safe='')}")


async def delete(visit: Visit) -> Response:
    secret_id, days = visit.form.get("id", ""), number(visit.form.get("days", "30"))
    if days is None:
        raise ConsoleError(Failure("InvalidParameterException", "The recovery window is a number of days (7-30)."))
    await visit.call(SM + "DeleteSecret", {"SecretId": secret_id, "RecoveryWindowInDays": days})
    return _to(secret_id)


async def restore(visit: Visit) -> Response:
    secret_id = visit.form.get("id", "")
    await visit.call(SM + "RestoreSecret", {"SecretId": secret_id})
    return _to(secret_id)

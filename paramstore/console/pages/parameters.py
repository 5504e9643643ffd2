"""Parameter Store pages: folders and search, a parameter's page (metadata, history,
labels, tags, policies), reveal, compare, and create / edit / label / tag / delete.

Each action is the SSM operation an SDK would call (PutParameter, LabelParameterVersion,
AddTagsToResource, DeleteParameter...), as the signed-in principal.  SecureString values
reach a page only from a POST (CSRF-checked, audited as GetParameter WithDecryption).
"""

from __future__ import annotations

import asyncio
import difflib
from typing import Optional
from urllib.parse import quote

from fastapi.responses import Response

from paramstore.console.backend import ConsoleError, Failure
from paramstore.console.web import Site, Visit, number, redirect

#: how many DescribeParameters pages a folder view reads to find its sub-folders
FOLDER_SCAN_PAGES = 4
PAGE_SIZE = 50
TYPES = ("String", "StringList", "SecureString")
TIERS = ("Standard", "Advanced", "Intelligent-Tiering")


def register(site: Site) -> None:
    site.page("/parameters")(parameters)
    site.page("/parameter")(parameter)
    site.page("/parameter/new")(new_parameter)
    site.page("/parameter/create", ("POST",))(create_parameter)
    site.page("/parameter/edit")(edit_parameter)
    site.page("/parameter/update", ("POST",))(update_parameter)
    site.page("/parameter/reveal", ("POST",))(reveal)
    site.page("/parameter/compare", ("POST",))(compare)
    site.page("/parameter/label", ("POST",))(label)
    site.page("/parameter/unlabel", ("POST",))(unlabel)
    site.page("/parameter/tag", ("POST",))(tag)
    site.page("/parameter/untag", ("POST",))(untag)
    site.page("/parameter/delete")(confirm_delete)
    site.page("/parameter/delete", ("POST",))(delete)


def folder_of(path: str) -> str:
    """"/a/b" -> "/a/b/"; "" -> "/"."""
    inner = path.strip("/")
    return "/" + inner + ("/" if inner else "")


async def parameters(visit: Visit) -> Response:
    """A folder: its sub-folders and the parameters directly in it; or, with any filter,
    the matching parameters anywhere below it."""
    path = folder_of(visit.arg("path", "/"))
    search = {k: visit.arg(k).strip() for k in ("name", "type", "tag", "label")}
    if search["type"] not in TYPES:
        search["type"] = ""
    if any(search.values()):
        found, next_token = await _search(visit, path, search, visit.arg("next") or None)
        folders: list[str] = []
    else:
        folders = await _subfolders(visit, path)
        listing = await visit.call("AmazonSSM.DescribeParameters", _filtered(path, "OneLevel", [],
                                                                             visit.arg("next") or None))
        found, next_token = listing.get("Parameters", []), listing.get("NextToken")
    return visit.page("parameters.html", path=path, crumbs=_crumbs(path), folders=folders, parameters=found,
                      next_token=next_token, search=search, types=TYPES,
                      more=_query(path=path, **search),
                      notice=f"Deleted {visit.arg('deleted')}." if visit.arg("deleted") else None)


async def _search(visit: Visit, path: str, search: dict, next_token: Optional[str]) -> tuple[list, Optional[str]]:
    if search["label"]:  # labels are a GetParametersByPath filter; names and types narrow it here
        filters = [{"Key": "Label", "Option": "Equals", "Values": [search["label"]]}]
        if search["type"]:
            filters.append({"Key": "Type", "Option": "Equals", "Values": [search["type"]]})
        body: dict = {"Path": path.rstrip("/") or "/", "Recursive": True, "ParameterFilters": filters,
                      "MaxResults": 10}
        if next_token:
            body["NextToken"] = next_token
        out = await visit.call("AmazonSSM.GetParametersByPath", body)
        found = [dict(p, Value=None) for p in out.get("Parameters", []) if search["name"] in p["Name"]]
        return found, out.get("NextToken")
    filters = []
    if search["name"]:
        filters.append({"Key": "Name", "Option": "Contains", "Values": [search["name"]]})
    if search["type"]:
        filters.append({"Key": "Type", "Option": "Equals", "Values": [search["type"]]})
    if search["tag"]:
        key, has_value, value = search["tag"].partition("=")
        filters.append({"Key": f"tag:{key.strip()}", **({"Values": [value.strip()]} if has_value else {})})
    out = await visit.call("AmazonSSM.DescribeParameters", _filtered(path, "Recursive", filters, next_token))
    return out.get("Parameters", []), out.get("NextToken")


async def _subfolders(visit: Visit, path: str) -> list[str]:
    """The next path segments below `path` among its first few pages of descendants."""
    folders: set[str] = set()
    body = _filtered(path, "Recursive", [], None)
    for _ in range(FOLDER_SCAN_PAGES):
        out = await visit.call("AmazonSSM.DescribeParameters", body)
        for p in out.get("Parameters", []):
            rest = p["Name"][len(path):] if p["Name"].startswith(path) else ""
            if "/" in rest:
                folders.add(rest.split("/", 1)[0])
        if not out.get("NextToken"):
            break
        body = dict(body, NextToken=out["NextToken"])
    return sorted(folders)


def _filtered(path: str, option: str, filters: list, next_token: Optional[str]) -> dict:
    body: dict = {"ParameterFilters": [{"Key": "Path", "Option": option, "Values": [path.rstrip("/") or "/"]},
                                       *filters], "MaxResults": PAGE_SIZE}
    if next_token:
        body["NextToken"] = next_token
    return body


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [(part, "/" + "/".join(parts[:i + 1]) + "/") for i, part in enumerate(parts)]


def _query(**values: str) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in values.items() if v)


async def _described(visit: Visit, name: str) -> dict:
    described = await visit.call("AmazonSSM.DescribeParameters", {
        "ParameterFilters": [{"Key": "Name", "Option": "Equals", "Values": [name]}]})
    found = described.get("Parameters", [])
    if not found:
        raise ConsoleError(Failure("ParameterNotFound", f"Parameter {name} not found."))
    return found[0]


async def parameter(visit: Visit) -> Response:
    name = visit.arg("name")
    meta = await _described(visit, name)
    history = await _history(visit, meta["Name"])
    tags = await visit.call("AmazonSSM.ListTagsForResource", {"ResourceType": "Parameter", "ResourceId": name})
    for version in history:  # values are shown only through an explicit, audited reveal
        if version.get("Type") == "SecureString":
            version.pop("Value", None)
    return visit.page("parameter.html", meta=meta, versions=list(reversed(history)), tags=tags.get("TagList", []),
                      crumbs=_crumbs(_parent(meta["Name"])))


def _parent(name: str) -> str:
    """The folder a parameter is in ("/a/b/c" -> "/a/b/"; "c" -> "/")."""
    return folder_of(name.rsplit("/", 1)[0]) if "/" in name.strip("/") else "/"


async def _history(visit: Visit, name: str) -> list[dict]:
    """Every version (AWS keeps at most 100: two pages)."""
    versions: list[dict] = []
    body: dict = {"Name": name, "MaxResults": 50}
    while True:
        out = await visit.call("AmazonSSM.GetParameterHistory", body)
        versions += out.get("Parameters", [])
        if not out.get("NextToken"):
            return versions
        body = dict(body, NextToken=out["NextToken"])


async def new_parameter(visit: Visit) -> Response:
    path = folder_of(visit.arg("path", "/"))
    return visit.page("parameter_form.html", meta=None, name=path if path != "/" else "", types=TYPES, tiers=TIERS)


async def create_parameter(visit: Visit) -> Response:
    f = visit.form
    body = {"Name": f.get("name", ""), "Value": f.get("value", ""), "Type": f.get("type") or "String",
            "Overwrite": False, "Tier": f.get("tier") or "Standard"}
    if f.get("description"):
        body["Description"] = f["description"]
    if f.get("key_id") and body["Type"] == "SecureString":
        body["KeyId"] = f["key_id"]
    if f.get("data_type"):
        body["DataType"] = f["data_type"]
    if f.get("tag_key"):
        body["Tags"] = [{"Key": f["tag_key"], "Value": f.get("tag_value", "")}]
    try:
        await visit.call("AmazonSSM.PutParameter", body)
    except ConsoleError as exc:  # the form again, as typed (but never the value), with the error
        return visit.page("parameter_form.html", status=400, meta=None, name=body["Name"], form=f, types=TYPES,
                          tiers=TIERS, error=exc.failure)
    return redirect(f"/console/parameter?name={quote(body['Name'], safe='')}")


async def edit_parameter(visit: Visit) -> Response:
    meta = await _described(visit, visit.arg("name"))
    current = None
    if meta["Type"] != "SecureString":  # a SecureString's value is never put in a form
        current = (await visit.call("AmazonSSM.GetParameter", {"Name": meta["Name"]}))["Parameter"]["Value"]
    return visit.page("parameter_form.html", meta=meta, name=meta["Name"], types=TYPES, tiers=TIERS,
                      current_value=current)


async def update_parameter(visit: Visit) -> Response:
    """A new version (PutParameter Overwrite): the value is required, as the API requires it."""
    f = visit.form
    meta = await _described(visit, f.get("name", ""))
    body = {"Name": meta["Name"], "Value": f.get("value", ""), "Overwrite": True, "Tier": f.get("tier") or meta["Tier"]}
    if f.get("description") != (meta.get("Description") or ""):
        body["Description"] = f.get("description", "")
    if meta["Type"] == "SecureString" and f.get("key_id") and f["key_id"] != meta.get("KeyId"):
        body["KeyId"] = f["key_id"]
    try:
        await visit.call("AmazonSSM.PutParameter", body)
    except ConsoleError as exc:
        return visit.page("parameter_form.html", status=400, meta=meta, name=meta["Name"], form=f, types=TYPES,
                          tiers=TIERS, error=exc.failure)
    return redirect(f"/console/parameter?name={quote(meta['Name'], safe='')}")


def _selector(name: str, version: str) -> str:
    return f"{name}:{number(version)}" if number(version) is not None else name


async def reveal(visit: Visit) -> Response:
    """One version's value: a GetParameter WithDecryption as the principal, so it is
    authorized and audited like any SDK read.  htmx gets the value alone to swap in (hidden
    again after a while by console.js); without JavaScript, a page with the value."""
    name, version = visit.form.get("name", ""), visit.form.get("version", "")
    out = await visit.call("AmazonSSM.GetParameter", {"Name": _selector(name, version), "WithDecryption": True})
    value = out["Parameter"]["Value"]
    if visit.htmx:
        return visit.page("fragment_value.html", value=value)
    return visit.page("revealed.html", name=name, version=out["Parameter"]["Version"], value=value)


async def compare(visit: Visit) -> Response:
    """Two versions side by side, line by line.  A POST: SecureString values are decrypted
    for it (two audited reads), as a reveal is."""
    name = visit.form.get("name", "")
    older, newer = visit.form.get("a", ""), visit.form.get("b", "")
    if number(older) is None or number(newer) is None:
        raise ConsoleError(Failure("ValidationException", "Choose two versions to compare."))
    values = []
    for version in (older, newer):
        out = await visit.call("AmazonSSM.GetParameter", {"Name": _selector(name, version), "WithDecryption": True})
        values.append(out["Parameter"]["Value"])
    lines = await asyncio.to_thread(line_diff, values[0], values[1])
    return visit.page("compare.html", name=name, a=older, b=newer, lines=lines, same=values[0] == values[1])


#: a diff compares at most this many lines of each value (an advanced parameter holds 8 KB)
MAX_DIFF_LINES = 400


def line_diff(old: str, new: str) -> list[tuple[str, str]]:
    """("-"|"+"|" ", line) rows from SequenceMatcher's opcodes: bounded work (ndiff's
    intra-line matching is cubic on many differing lines), off the event loop."""
    a, b = old.splitlines()[:MAX_DIFF_LINES] or [""], new.splitlines()[:MAX_DIFF_LINES] or [""]
    rows: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [(" ", line) for line in a[i1:i2]]
            continue
        rows += [("-", line) for line in a[i1:i2]]
        rows += [("+", line) for line in b[j1:j2]]
    return rows


async def label(visit: Visit) -> Response:
    f = visit.form
    labels = [x.strip() for x in f.get("labels", "").split(",") if x.strip()]
    body: dict = {"Name": f.get("name", ""), "Labels": labels}
    if number(f.get("version", "")) is not None:
        body["ParameterVersion"] = number(f["version"])
    out = await visit.call("AmazonSSM.LabelParameterVersion", body)
    if out.get("InvalidLabels"):
        raise ConsoleError(Failure("ParameterVersionLabelLimitExceeded" if not labels else "InvalidLabels",
                                   "These labels were not applied: " + ", ".join(out["InvalidLabels"])))
    return redirect(f"/console/parameter?name={quote(body['Name'], safe='')}")


async def unlabel(visit: Visit) -> Response:
    f = visit.form
    version = number(f.get("version", ""))
    if version is None:
        raise ConsoleError(Failure("ValidationException", "A version is required."))
    await visit.call("AmazonSSM.UnlabelParameterVersion", {"Name": f.get("name", ""), "ParameterVersion": version,
                                                           "Labels": [f.get("label", "")]})
    return redirect(f"/console/parameter?name={quote(f.get('name', ''), safe='')}")


async def tag(visit: Visit) -> Response:
    f = visit.form
    await visit.call("AmazonSSM.AddTagsToResource", {"ResourceType": "Parameter", "ResourceId": f.get("name", ""),
                                                     "Tags": [{"Key": f.get("key", ""), "Value": f.get("value", "")}]})
    return redirect(f"/console/parameter?name={quote(f.get('name', ''), safe='')}")


async def untag(visit: Visit) -> Response:
    f = visit.form
    await visit.call("AmazonSSM.RemoveTagsFromResource", {
        "ResourceType": "Parameter", "ResourceId": f.get("name", ""), "TagKeys": [f.get("key", "")]})
    return redirect(f"/console/parameter?name={quote(f.get('name', ''), safe='')}")


async def confirm_delete(visit: Visit) -> Response:
    meta = await _described(visit, visit.arg("name"))
    return visit.page("confirm.html", title=f"Delete {meta['Name']}?", action="/console/parameter/delete",
                      fields={"name": meta["Name"]}, verb="Delete", danger=True,
                      detail=f"Every version of {meta['Name']} ({meta['Version']} so far) is deleted. "
                             "This cannot be undone.",
                      back=f"/console/parameter?name={quote(meta['Name'], safe='')}")


async def delete(visit: Visit) -> Response:
    name = visit.form.get("name", "")
    await visit.call("AmazonSSM.DeleteParameter", {"Name": name})
    return redirect(f"/console/parameters?path={quote(_parent(name), safe='')}&deleted={quote(name, safe='')}")

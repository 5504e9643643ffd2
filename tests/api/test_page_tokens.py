"""Pagination tokens are sealed (kms_core/protocol/page_tokens.py), through boto3.

For every list operation: paging walks every item exactly once; a garbage, edited,
truncated, empty or huge token is the service's own 4xx error (KMS InvalidMarkerException,
SSM InvalidNextToken, IAM ValidationError; KMS's model limits on Marker come first, as
ValidationException); and a genuine token is refused by another operation, with other
filters, in another account and in another Region.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, Optional

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import second_account_key

OTHER_ACCOUNT = "777788889999"
OTHER_REGION = "eu-west-1"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]})
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})

#: where each service takes the token, where it answers with the next one, what it says about a bad one
IN_FIELD = {"kms": "Marker", "ssm": "NextToken", "iam": "Marker"}
OUT_FIELD = {"kms": "NextMarker", "ssm": "NextToken", "iam": "Marker"}
REFUSED = {"kms": "InvalidMarkerException", "ssm": "InvalidNextToken", "iam": "ValidationError"}
MESSAGE = {
    "kms": "The request was rejected because the marker that specifies where pagination should next begin "
           "is not valid.",
    "ssm": "The specified token isn't valid.",
    "iam": "Invalid Marker.",
}


def clients(server, region: str = REGION,
            creds: tuple[str, str] = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)) -> SimpleNamespace:
    """kms/ssm/iam clients without botocore's client-side checks (so odd tokens reach the server)."""
    extra = {"aws_access_key_id": creds[0], "aws_secret_access_key": creds[1]}
    config = Config(retries={"total_max_attempts": 1}, parameter_validation=False)
    return SimpleNamespace(**{s: boto3.client(s, endpoint_url=server.url, region_name=region, config=config, **extra)
                              for s in ("kms", "ssm", "iam")})


@dataclass
class Listing:
    service: str
    method: str
    args: dict
    size: dict
    items: Callable[[dict], list]
    expected: set
    #: the walk must yield exactly `expected` (else: at least it, each item once)
    exact: bool = True
    #: other filter sets: a token issued for `args` must be refused with each
    other_args: list = field(default_factory=list)
    #: filter sets naming the same listing differently: the token still opens
    same_args: list = field(default_factory=list)
    walk_size: Optional[dict] = None
    #: makes `args` valid in another account or Region (e.g. the named user exists there too)
    mirror: Callable[[SimpleNamespace], None] = lambda other: None

    def call(self, c: SimpleNamespace, args: Optional[dict] = None, token: Optional[str] = None,
             size: Optional[dict] = None) -> dict:
        kw = dict(self.args if args is None else args)
        kw.update(self.size if size is None else size)
        if token is not None:
            kw[IN_FIELD[self.service]] = token
        return getattr(getattr(c, self.service), self.method)(**kw)

    def next_token(self, page: dict) -> Optional[str]:
        truncated = page.get("IsTruncated") if self.service == "iam" else page.get("Truncated")
        token = page.get(OUT_FIELD[self.service])
        if self.service != "ssm":
            assert bool(truncated) == (token is not None), page
        return token

    def first_token(self, c: SimpleNamespace) -> str:
        token = self.next_token(self.call(c))
        assert token, f"{self.method}: the first page must be truncated"
        return token


def _ignore_exists(call: Callable[[], object]) -> None:
    try:
        call()
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("EntityAlreadyExists", "AlreadyExistsException"):
            raise


@pytest.fixture(scope="module")
def home(server) -> SimpleNamespace:
    return clients(server)


@pytest.fixture(scope="module")
def listings(server, home) -> dict[str, Listing]:
    """One listing of three or more items per list operation, each under names of its own."""
    c = home
    uid = uuid.uuid4().hex[:8]
    k1, k2, k3 = (c.kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3))
    out: dict[str, Listing] = {}

    # --- KMS
    out["ListKeys"] = Listing("kms", "list_keys", {}, {"Limit": 2}, lambda p: [k["KeyId"] for k in p["Keys"]],
                              {k1, k2, k3}, exact=False, walk_size={"Limit": 50})
    aliases = {f"alias/pt-{uid}-{i}" for i in "abc"}
    for alias in aliases:
        c.kms.create_alias(AliasName=alias, TargetKeyId=k1)
    k1_arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{k1}"
    out["ListAliases"] = Listing("kms", "list_aliases", {"KeyId": k1}, {"Limit": 1},
                                 lambda p: [a["AliasName"] for a in p["Aliases"]], aliases,
                                 other_args=[{"KeyId": k2}, {}], same_args=[{"KeyId": k1_arn}])
    out["ListAliases (all)"] = Listing("kms", "list_aliases", {}, {"Limit": 1},
                                       lambda p: [a["AliasName"] for a in p["Aliases"]], aliases, exact=False,
                                       walk_size={"Limit": 50}, other_args=[{"KeyId": k1}])
    grantee = f"arn:aws:iam::{ACCOUNT_ID}:user/pt-{uid}-grantee"
    retiring = f"arn:aws:iam::{ACCOUNT_ID}:user/pt-{uid}-retiring"
    grants = {c.kms.create_grant(KeyId=k1, GranteePrincipal=grantee, RetiringPrincipal=retiring,
                                 Operations=["Decrypt"], Name=f"g{i}")["GrantId"] for i in range(3)}
    grant_ids = lambda p: [g["GrantId"] for g in p["Grants"]]  # noqa: E731
    out["ListGrants"] = Listing("kms", "list_grants", {"KeyId": k1}, {"Limit": 1}, grant_ids, grants,
                                other_args=[{"KeyId": k2}, {"KeyId": k1, "GranteePrincipal": grantee},
                                            {"KeyId": k1, "GrantId": next(iter(grants))}],
                                same_args=[{"KeyId": k1_arn}])
    out["ListRetirableGrants"] = Listing(
        "kms", "list_retirable_grants", {"RetiringPrincipal": retiring}, {"Limit": 1}, grant_ids, grants,
        other_args=[{"RetiringPrincipal": grantee}])
    tags = {f"t{i}" for i in range(3)}
    c.kms.tag_resource(KeyId=k1, Tags=[{"TagKey": t, "TagValue": "v"} for t in tags])
    out["ListResourceTags"] = Listing("kms", "list_resource_tags", {"KeyId": k1}, {"Limit": 1},
                                      lambda p: [t["TagKey"] for t in p["Tags"]], tags,
                                      other_args=[{"KeyId": k2}], same_args=[{"KeyId": k1_arn}])
    for _ in range(3):
        c.kms.rotate_key_on_demand(KeyId=k1)
    materials = {r["KeyMaterialId"] for r in c.kms.list_key_rotations(KeyId=k1, Limit=100)["Rotations"]}
    assert len(materials) == 3
    out["ListKeyRotations"] = Listing("kms", "list_key_rotations", {"KeyId": k1}, {"Limit": 1},
                                      lambda p: [r["KeyMaterialId"] for r in p["Rotations"]], materials,
                                      other_args=[{"KeyId": k2},
                                                  {"KeyId": k1, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}],
                                      same_args=[{"KeyId": k1_arn}])

    # --- SSM
    base, elsewhere = f"/pt/{uid}", f"/pt/{uid}-other"
    names = {f"{base}/{n}" for n in "abc"}
    for n in names | {f"{base}/deeper/d", f"{elsewhere}/x"}:
        c.ssm.put_parameter(Name=n, Value="v", Type="String")
    history = f"{base}/history/h"
    for i in range(3):
        c.ssm.put_parameter(Name=history, Value=f"v{i}", Type="String", Overwrite=i > 0)
    param_names = lambda p: [x["Name"] for x in p["Parameters"]]  # noqa: E731
    out["GetParametersByPath"] = Listing(
        "ssm", "get_parameters_by_path", {"Path": base}, {"MaxResults": 1}, param_names, names,
        other_args=[{"Path": elsewhere}, {"Path": base, "Recursive": True},
                    {"Path": base, "ParameterFilters": [{"Key": "Type", "Option": "Equals", "Values": ["String"]}]}])
    recursive = [{"Key": "Path", "Option": "Recursive", "Values": [base]}]
    out["DescribeParameters"] = Listing(
        "ssm", "describe_parameters", {"ParameterFilters": recursive}, {"MaxResults": 1}, param_names,
        names | {f"{base}/deeper/d", history},
        other_args=[{"ParameterFilters": [{"Key": "Path", "Option": "OneLevel", "Values": [base]}]},
                    {"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": [elsewhere]}]},
                    {"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": [base]}]}, {}])
    out["GetParameterHistory"] = Listing(
        "ssm", "get_parameter_history", {"Name": history}, {"MaxResults": 1},
        lambda p: [x["Version"] for x in p["Parameters"]], {1, 2, 3}, other_args=[{"Name": f"{base}/a"}],
        mirror=lambda o: o.ssm.put_parameter(Name=history, Value="v", Type="String", Overwrite=True))

    # --- IAM
    prefix, other_prefix = f"/pt{uid}/", f"/pt{uid}x/"
    users = {f"pt-{uid}-{i}" for i in range(3)}
    for u in users:
        c.iam.create_user(UserName=u, Path=prefix)
    c.iam.create_user(UserName=f"pt-{uid}-elsewhere", Path=other_prefix)
    roles = {f"pt-{uid}-r{i}" for i in range(3)}
    for r in roles:
        c.iam.create_role(RoleName=r, Path=prefix, AssumeRolePolicyDocument=TRUST)
    out["ListUsers"] = Listing("iam", "list_users", {"PathPrefix": prefix}, {"MaxItems": 1},
                               lambda p: [u["UserName"] for u in p["Users"]], users,
                               other_args=[{"PathPrefix": other_prefix}, {}])
    out["ListRoles"] = Listing("iam", "list_roles", {"PathPrefix": prefix}, {"MaxItems": 1},
                               lambda p: [r["RoleName"] for r in p["Roles"]], roles,
                               other_args=[{"PathPrefix": other_prefix}, {}])
    owner, other_user = f"pt-{uid}-owner", f"pt-{uid}-other"
    c.iam.create_user(UserName=owner)
    c.iam.create_user(UserName=other_user)
    c.iam.create_role(RoleName=owner, AssumeRolePolicyDocument=TRUST)  # a role named like the user
    c.iam.create_role(RoleName=other_user, AssumeRolePolicyDocument=TRUST)
    keys = {c.iam.create_access_key(UserName=owner)["AccessKey"]["AccessKeyId"] for _ in range(2)}
    policies = {f"p{i}" for i in range(3)}
    for p in policies:
        c.iam.put_user_policy(UserName=owner, PolicyName=p, PolicyDocument=POLICY)
        c.iam.put_role_policy(RoleName=owner, PolicyName=p, PolicyDocument=POLICY)

    def mirror_user(o: SimpleNamespace) -> None:
        _ignore_exists(lambda: o.iam.create_user(UserName=owner))

    def mirror_role(o: SimpleNamespace) -> None:
        _ignore_exists(lambda: o.iam.create_role(RoleName=owner, AssumeRolePolicyDocument=TRUST))

    out["ListAccessKeys"] = Listing("iam", "list_access_keys", {"UserName": owner}, {"MaxItems": 1},
                                    lambda p: [k["AccessKeyId"] for k in p["AccessKeyMetadata"]], keys,
                                    other_args=[{"UserName": other_user}], mirror=mirror_user)
    out["ListUserPolicies"] = Listing("iam", "list_user_policies", {"UserName": owner}, {"MaxItems": 1},
                                      lambda p: p["PolicyNames"], policies,
                                      other_args=[{"UserName": other_user}], mirror=mirror_user)
    out["ListRolePolicies"] = Listing("iam", "list_role_policies", {"RoleName": owner}, {"MaxItems": 1},
                                      lambda p: p["PolicyNames"], policies,
                                      other_args=[{"RoleName": other_user}], mirror=mirror_role)
    return out


NAMES = ["ListKeys", "ListAliases", "ListAliases (all)", "ListGrants", "ListRetirableGrants", "ListResourceTags",
         "ListKeyRotations",
         "GetParametersByPath", "DescribeParameters", "GetParameterHistory",
         "ListUsers", "ListRoles", "ListAccessKeys", "ListUserPolicies", "ListRolePolicies"]


def refusal(call: Callable[[], object]) -> tuple[int, str, str]:
    """(HTTP status, code, message) of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"].get("Message", ""))


def assert_refused(listing: Listing, call: Callable[[], object], what: str) -> None:
    status, code, message = refusal(call)
    assert (status, code, message) == (400, REFUSED[listing.service], MESSAGE[listing.service]), what


def walk(listing: Listing, c: SimpleNamespace, args: Optional[dict] = None) -> list:
    seen: list = []
    token = None
    for _ in range(10_000):
        page = listing.call(c, args, token, listing.walk_size)
        seen += listing.items(page)
        token = listing.next_token(page)
        if not token:
            return seen
    raise AssertionError("paging did not end")


# --- every item once -------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_paging_walks_every_item_exactly_once(listings, home, name):
    listing = listings[name]
    seen = walk(listing, home)
    assert len(seen) == len(set(seen)), seen
    if listing.exact:
        assert set(seen) == listing.expected
    else:
        assert listing.expected <= set(seen)


@pytest.mark.parametrize("name", NAMES)
def test_token_opens_for_the_same_listing_named_alike_and_any_page_size(listings, home, name):
    listing = listings[name]
    token = listing.first_token(home)
    first = listing.items(listing.call(home))
    bigger = {k: 1000 if k != "MaxResults" else 10 for k in listing.size}
    rest = listing.items(listing.call(home, token=token, size=bigger))
    if listing.exact:
        assert set(first) | set(rest) == listing.expected and not set(first) & set(rest)
    for args in listing.same_args:
        assert listing.items(listing.call(home, args, token, bigger)) == rest


# --- tampered tokens -------------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def tampered(token: str) -> list[tuple[str, str]]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))

    def flip(i: int, bit: int = 1) -> str:
        return _b64(raw[:i] + bytes([raw[i] ^ bit]) + raw[i + 1:])

    last = "A" if token[-1] != "A" else "Q"
    return [
        ("garbage", "!!!not a token!!!"),
        ("garbage base64", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ("unsealed position", _b64(b"alias/pt-a")),
        ("unsealed json", _b64(json.dumps({"k": "path", "a": "/"}).encode())),
        ("flipped version byte", flip(0)),
        ("flipped iv byte", flip(5)),
        ("flipped middle byte", flip(len(raw) // 2, 0x80)),
        ("flipped tag byte", flip(len(raw) - 1)),
        ("changed last char", token[:-1] + last),
        ("changed first char", ("B" if token[0] != "B" else "C") + token[1:]),
        ("truncated by a char", token[:-1]),
        ("truncated by a byte", _b64(raw[:-1])),
        ("truncated to half", token[: len(token) // 2]),
        ("extended", token + "AAAA"),
        ("padded", token + "=" * (-len(token) % 4 or 4)),
        ("doubled", token + token),
        ("whitespace", " " + token),
        ("empty", ""),
        ("NUL", "\x00"),
        ("control characters", "\x01\x1f\x7f"),
        ("non-ASCII", "\u00e9\u00ff"),
        ("10 KB", "A" * 10240),
        ("10 KB of base64", _b64(raw * (7500 // len(raw) + 1))),
    ]


def expected_code(service: str, token: str) -> str:
    # KMS checks Marker against its model first (length 1..1024, [\u0020-\u00FF]*): ValidationException
    if service == "kms" and (not 1 <= len(token) <= 1024 or any(not 0x20 <= ord(ch) <= 0xFF for ch in token)):
        return "ValidationException"
    if service == "ssm" and "\x00" in token:  # SSM refuses NUL in any string member
        return "ValidationException"
    return REFUSED[service]


@pytest.mark.parametrize("name", NAMES)
def test_tampered_tokens_are_the_services_4xx(listings, home, name):
    listing = listings[name]
    token = listing.first_token(home)
    wrong = []
    for label, bad in tampered(token):
        status, code, message = refusal(lambda: listing.call(home, token=bad))
        want = expected_code(listing.service, bad)
        refused = code == REFUSED[listing.service]
        if status != 400 or code != want or (refused and message != MESSAGE[listing.service]):
            wrong.append((label, status, code, message))
    assert not wrong, wrong


# --- replayed into another listing -----------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_token_refused_with_other_filters(listings, home, name):
    listing = listings[name]
    token = listing.first_token(home)
    for args in listing.other_args:
        assert_refused(listing, lambda: listing.call(home, args, token), f"{name} {args}")


@pytest.mark.parametrize("name", NAMES)
def test_token_refused_by_every_other_operation(listings, home, name):
    source = listings[name]
    token = source.first_token(home)
    for other_name, other in listings.items():
        if other_name != name and other.service == source.service:
            assert_refused(other, lambda: other.call(home, token=token), f"{name} -> {other_name}")


@pytest.fixture(scope="module")
def other_account(server) -> SimpleNamespace:
    """Root credentials of a second account (made by the operator path)."""
    return clients(server, creds=second_account_key(server, OTHER_ACCOUNT))


#: listings another account can ask for too (not those naming a key, or a retiring principal,
#: of this account)
CROSS_ACCOUNT = ["ListKeys", "ListAliases (all)", "GetParametersByPath", "DescribeParameters",
                 "GetParameterHistory", "ListUsers", "ListRoles", "ListAccessKeys", "ListUserPolicies",
                 "ListRolePolicies"]
#: listings of Regional resources that can be asked for in another Region (not those naming a key)
CROSS_REGION = ["ListKeys", "ListAliases (all)", "ListRetirableGrants", "GetParametersByPath",
                "DescribeParameters", "GetParameterHistory"]


@pytest.mark.parametrize("name", CROSS_ACCOUNT)
def test_token_refused_in_another_account(listings, home, other_account, name):
    listing = listings[name]
    token = listing.first_token(home)
    listing.mirror(other_account)
    listing.call(other_account)  # the same request without the token is fine there
    assert_refused(listing, lambda: listing.call(other_account, token=token), name)


@pytest.mark.parametrize("name", CROSS_REGION)
def test_token_refused_in_another_region(server, listings, home, name):
    listing = listings[name]
    token = listing.first_token(home)
    there = clients(server, region=OTHER_REGION)
    listing.mirror(there)
    listing.call(there)
    assert_refused(listing, lambda: listing.call(there, token=token), name)


def test_list_key_policies_takes_no_marker(listings, home):
    """One page, so it never issues a Marker: none opens, not even another listing's for the key."""
    key_id = listings["ListResourceTags"].args["KeyId"]
    page = home.kms.list_key_policies(KeyId=key_id, Limit=1)
    assert page["PolicyNames"] == ["default"] and page["Truncated"] is False and "NextMarker" not in page
    foreign = listings["ListResourceTags"].first_token(home)
    for label, bad in tampered(foreign) + [("ListResourceTags marker", foreign)]:
        status, code, _ = refusal(lambda: home.kms.list_key_policies(KeyId=key_id, Marker=bad))
        assert (status, code) == (400, expected_code("kms", bad)), label


def test_tokens_are_compact(listings, home):
    for name in ("ListKeys", "ListAliases", "ListGrants", "DescribeParameters", "ListUsers"):
        listing = listings[name]
        token = listing.first_token(home)
        assert len(token) <= 200 and set(token) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), (name, token)


# --- the sealing itself ------------------------------------------------------------------------
def _ctx(account: str = ACCOUNT_ID, region: str = REGION) -> SimpleNamespace:
    return SimpleNamespace(account_id=account, region=region)


def test_same_root_key_opens_in_any_process_other_root_key_never():
    from kms_core.crypto.root import RootKey
    from kms_core.protocol.page_tokens import PageTokens

    secret = bytes(range(32))
    issued = PageTokens(RootKey(secret, "a")).seal(_ctx(), "kms:ListKeys", None, "position")
    assert PageTokens(RootKey(secret, "b")).open(_ctx(), "kms:ListKeys", None, issued) == "position"
    assert PageTokens(RootKey(bytes(32), "c")).open(_ctx(), "kms:ListKeys", None, issued) is None
    tokens = PageTokens(RootKey(secret, "d"))
    assert tokens.open(_ctx(region="eu-west-1"), "kms:ListKeys", None, issued) is None
    assert tokens.open(_ctx(account="444455556666"), "kms:ListKeys", None, issued) is None
    assert tokens.open(_ctx(), "kms:ListAliases", None, issued) is None
    assert tokens.open(_ctx(), "kms:ListKeys", "k", issued) is None
    assert tokens.open(_ctx(), "kms:ListKeys", None, None) is None


def test_bound_filters_compare_as_data():
    from kms_core.crypto.root import RootKey
    from kms_core.protocol.page_tokens import PageTokens

    tokens = PageTokens(RootKey(bytes(range(32)), "a"))
    bound = [{"Key": "Path", "Values": ["/a"], "Option": "Recursive"}]
    issued = tokens.seal(_ctx(), "ssm:DescribeParameters", bound, "/a/b")
    same = [{"Option": "Recursive", "Key": "Path", "Values": ["/a"]}]  # key order does not matter
    assert tokens.open(_ctx(), "ssm:DescribeParameters", same, issued) == "/a/b"
    assert tokens.open(_ctx(), "ssm:DescribeParameters", [{**bound[0], "Values": ["/a", "/b"]}], issued) is None
    assert tokens.open(_ctx(), "ssm:DescribeParameters", [], issued) is None


def test_token_issued_by_one_process_opens_in_another(fresh_database, tmp_path):
    """Server processes sharing a database (and the root key) derive the same token key."""
    from tests.process_helpers import ServerProcess

    root_key = base64.b64encode(bytes(range(32))).decode()
    first = ServerProcess(tmp_path, fresh_database[1], root_key).wait_ready()
    second = ServerProcess(tmp_path, fresh_database[1], root_key).wait_ready()
    try:
        a, b = first.client("ssm"), second.client("ssm")
        base = f"/pt/{uuid.uuid4().hex[:8]}"
        for n in "abc":
            a.put_parameter(Name=f"{base}/{n}", Value="v", Type="String")
        page = a.get_parameters_by_path(Path=base, MaxResults=1)
        rest = b.get_parameters_by_path(Path=base, MaxResults=10, NextToken=page["NextToken"])
        assert [p["Name"] for p in page["Parameters"] + rest["Parameters"]] == [f"{base}/{n}" for n in "abc"]
    finally:
        first.stop()
        second.stop()

"""The web console in a real browser (chromium): sign-in, browsing, reveal and its audit
event, parameter create/edit/delete, a key's policy editor and state changes, the audit
filter and chain check, AccessDenied for a user without rights, session expiry, sign-out,
CSRF, framing, and attacker-controlled text rendered as text with zero CSP violations.

Every action goes through the forms a person uses; boto3 checks what the store holds.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import Page, expect

from tests.browser.conftest import csp_violations
from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)

NASTY_SCRIPT = '<script>alert("xss-script")</script>'
NASTY_IMG = '"><img src=x onerror=alert("xss-img")>'


def sign_in(page: Page, server, access_key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY,
            region: str = "us-east-1") -> None:
    page.goto(f"{server.url}/console/signin")
    page.get_by_label("Access key ID").fill(access_key_id)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_label("Region", exact=True).fill(region)
    page.get_by_role("button", name="Sign in").click()


def new_user(server, policy: dict | None = None) -> dict:
    iam = server.client("iam")
    user = "browser-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    if policy:
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=user)["AccessKey"]


@pytest.fixture
def base() -> str:
    return f"/br-{uuid.uuid4().hex[:8]}"


def test_sign_in_refuses_a_wrong_key_then_admits_the_right_one(watched_page: Page, server):
    page = watched_page
    sign_in(page, server, secret="not-the-secret")
    expect(page.get_by_role("alert")).to_contain_text("SignInRefused")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    sign_in(page, server)
    expect(page).to_have_url(re.compile(r"/console/parameters"))
    expect(page.locator("header")).to_contain_text("arn:aws:iam::111122223333:root")
    assert "not-the-secret" not in page.content() and SECRET_ACCESS_KEY not in page.content()
    assert csp_violations(page) == [] and page.dialogs == []


def test_browse_a_three_level_hierarchy(watched_page: Page, server, base):
    ssm = server.client("ssm")
    ssm.put_parameter(Name=f"{base}/app/prod/db-host", Value="db.internal", Type="String")
    ssm.put_parameter(Name=f"{base}/app/prod/db-password", Value="hunter2-prod", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/app/staging/db-host", Value="db.staging", Type="String")
    page = watched_page
    sign_in(page, server)
    page.goto(f"{server.url}/console/parameters?path={base}/")
    page.get_by_role("link", name="app/").click()
    expect(page.get_by_role("link", name="prod/")).to_be_visible()
    expect(page.get_by_role("link", name="staging/")).to_be_visible()
    page.get_by_role("link", name="prod/").click()
    expect(page.get_by_role("heading", name=f"In {base}/app/prod/")).to_be_visible()
    expect(page.get_by_role("link", name=f"{base}/app/prod/db-host")).to_be_visible()
    page.get_by_role("link", name=f"{base}/app/prod/db-password").click()
    expect(page.get_by_role("heading", name=f"{base}/app/prod/db-password")).to_be_visible()
    assert "hunter2-prod" not in page.content()
    page.get_by_role("navigation", name="Folder").get_by_role("link", name="app").click()
    expect(page.get_by_role("link", name="staging/")).to_be_visible()
    assert csp_violations(page) == []


def test_reveal_shows_the_value_hides_it_again_and_is_audited(watched_page: Page, server, base):
    name = f"{base}/reveal/token"
    server.client("ssm").put_parameter(Name=name, Value="s3cr3t-reveal-value", Type="SecureString")
    page = watched_page
    sign_in(page, server)
    page.goto(f"{server.url}/console/parameter?name={name}")
    assert "s3cr3t-reveal-value" not in page.content()
    page.get_by_role("button", name="Reveal").click()
    revealed = page.locator(".revealed code")
    expect(revealed).to_have_text("s3cr3t-reveal-value")
    page.goto(f"{server.url}/console/audit?attr=EventName&value=GetParameter")
    row = page.locator("tr", has_text="ssm:GetParameter").filter(has_text="(console)").first
    expect(row).to_contain_text(name.lstrip("/"))
    assert "s3cr3t-reveal-value" not in page.content()
    assert csp_violations(page) == []


def test_create_edit_and_delete_a_parameter(watched_page: Page, server, base):
    ssm = server.client("ssm")
    name = f"{base}/crud/api-url"
    page = watched_page
    sign_in(page, server)
    page.goto(f"{server.url}/console/parameters?path={base}/")
    page.locator("#create").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Value", exact=True).fill("https://v1.example")
    page.get_by_label("Description").fill("where the API lives")
    page.locator("#save").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "https://v1.example"

    page.locator("#edit").click()
    expect(page.get_by_label("Value", exact=True)).to_have_value("https://v1.example")
    page.get_by_label("Value", exact=True).fill("https://v2.example")
    page.locator("#save").click()
    expect(page.locator("dl.meta")).to_contain_text("2")
    got = ssm.get_parameter(Name=name)["Parameter"]
    assert got["Value"] == "https://v2.example" and got["Version"] == 2

    page.get_by_label("as").fill("stable")
    page.locator("#add-label").click()
    expect(page.locator("span.tag", has_text="stable")).to_be_visible()
    page.locator("#compare").click()
    expect(page.locator("tr.removed")).to_contain_text("https://v1.example")
    expect(page.locator("tr.added")).to_contain_text("https://v2.example")
    page.go_back()

    page.locator("#delete").click()
    expect(page.get_by_role("heading", name=f"Delete {name}?")).to_be_visible()
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 2  # nothing happens before the confirmation
    page.locator("#confirm").click()
    expect(page.get_by_role("status")).to_contain_text(f"Deleted {name}")
    with pytest.raises(ClientError) as err:
        ssm.get_parameter(Name=name)
    assert err.value.response["Error"]["Code"] == "ParameterNotFound"
    assert csp_violations(page) == []


def test_key_policy_editor_refuses_an_invalid_policy_and_saves_a_valid_one(watched_page: Page, server):
    kms = server.client("kms", region="sa-west-3")  # a Region of its own: the list's first page holds the key
    key = kms.create_key(Description="policy editor")["KeyMetadata"]
    before = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    page = watched_page
    sign_in(page, server, region="sa-west-3")
    page.goto(f"{server.url}/console/keys")
    page.get_by_role("link", name=key["KeyId"]).click()
    expect(page.locator("#key-state")).to_have_text("Enabled")
    page.locator("#policy").fill('{"Version": "2012-10-17", "Statement": [ not json')
    page.locator("#save-policy").click()
    expect(page.get_by_role("alert")).to_contain_text("MalformedPolicyDocumentException")
    expect(page.locator("#policy")).to_have_value(re.compile("not json"))  # what was typed, to fix
    assert kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == before

    policy = json.loads(before)
    policy["Statement"].append({"Sid": "FromTheConsole", "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                "Action": "kms:DescribeKey", "Resource": "*"})
    page.locator("#policy").fill(json.dumps(policy, indent=2))
    page.locator("#save-policy").click()
    expect(page.get_by_role("status")).to_contain_text("Key policy saved")
    assert "FromTheConsole" in kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert csp_violations(page) == []


def test_disable_and_enable_a_key_behind_confirmations(watched_page: Page, server):
    kms = server.client("kms")
    key_id = kms.create_key(Description="toggle")["KeyMetadata"]["KeyId"]
    page = watched_page
    sign_in(page, server)
    page.goto(f"{server.url}/console/key?id={key_id}")
    page.locator("#disable").click()
    expect(page.get_by_role("heading", name=re.compile("Disable"))).to_be_visible()
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    page.locator("#confirm").click()
    expect(page.locator("#key-state")).to_have_text("Disabled")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    page.locator("#enable").click()
    page.locator("#confirm").click()
    expect(page.locator("#key-state")).to_have_text("Enabled")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    page.locator("#schedule-deletion").click()
    page.get_by_label(re.compile("Waiting period")).fill("7")
    page.locator("#confirm").click()
    expect(page.locator("#key-state")).to_contain_text("PendingDeletion")
    page.locator("#cancel-deletion").click()
    page.locator("#confirm").click()
    expect(page.locator("#key-state")).to_have_text("Disabled")
    assert csp_violations(page) == []


def test_aws_managed_keys_are_read_only(watched_page: Page, server):
    managed = server.client("kms").describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    page = watched_page
    sign_in(page, server)
    page.goto(f"{server.url}/console/key?id={managed['Arn']}")
    expect(page.locator("dl.meta")).to_contain_text("AWS-managed: read-only")
    assert page.locator("#policy").count() == 0 and page.locator("#disable").count() == 0


def test_audit_filter_and_chain_verification(watched_page: Page, server):
    kms = server.client("kms")
    key_id = kms.create_key(Description="audited")["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "payments"}])
    page = watched_page
    sign_in(page, server)
    page.goto(f"{server.url}/console/audit")
    page.get_by_label("Filter by").select_option("EventName")
    page.get_by_label("Value", exact=True).fill("TagResource")
    page.locator("#filter").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("kms:TagResource")
    assert all("TagResource" in text for text in rows.all_inner_texts())
    expect(page.locator("tbody")).to_contain_text(key_id)
    rows.first.get_by_role("link").click()
    expect(page.locator("pre.event")).to_contain_text('"eventName": "TagResource"')
    page.go_back()
    page.locator("#verify").click()
    expect(page.locator("#verify-outcome")).to_contain_text("Intact")
    assert csp_violations(page) == []


def test_user_without_rights_sees_access_denied_and_nothing_changes(watched_page: Page, server, base):
    ssm = server.client("ssm")
    ssm.put_parameter(Name=f"{base}/guarded/value", Value="original", Type="String")
    key = new_user(server)
    page = watched_page
    sign_in(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    expect(page.get_by_role("alert")).to_contain_text("AccessDeniedException")
    page.goto(f"{server.url}/console/parameter/new?path={base}/guarded/")
    page.get_by_label("Name").fill(f"{base}/guarded/value")
    page.get_by_label("Value", exact=True).fill("overwritten")
    page.locator("#save").click()
    expect(page.get_by_role("alert")).to_contain_text("AccessDeniedException")
    expect(page.get_by_role("alert")).to_contain_text("ssm:PutParameter")
    assert ssm.get_parameter(Name=f"{base}/guarded/value")["Parameter"]["Value"] == "original"
    page.goto(f"{server.url}/console/keys")
    expect(page.get_by_role("alert")).to_contain_text("kms:ListKeys")


def test_sign_out_expiry_and_a_post_without_the_csrf_token(watched_page: Page, server, base):
    ssm = server.client("ssm")
    name = f"{base}/csrf/value"
    ssm.put_parameter(Name=name, Value="kept", Type="String")
    page = watched_page
    sign_in(page, server)
    # a POST without the session's token (what a cross-site form would send) changes nothing
    refused = page.request.post(f"{server.url}/console/parameter/delete", form={"name": name})
    assert refused.status == 403 and "InvalidCsrfToken" in refused.text()
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "kept"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    page.goto(f"{server.url}/console/parameters")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    # idle expiry
    sessions = server.app.state.console_sessions
    sign_in(page, server)
    idle, sessions.idle = sessions.idle, 0.0
    try:
        page.goto(f"{server.url}/console/keys")
        expect(page).to_have_url(re.compile(r"/console/signin$"))
    finally:
        sessions.idle = idle


def test_framing_is_refused(watched_page: Page, server):
    page = watched_page
    page.goto(f"{server.url}/console/static/console.css")  # any page of another document
    page.set_content(f'<iframe id="f" src="{server.url}/console/signin" width="600" height="400"></iframe>')
    page.wait_for_timeout(1000)
    framed = [f for f in page.frames if f != page.main_frame]
    assert framed, "no frame"
    # the browser refuses to render it (frame-ancestors 'none', X-Frame-Options DENY)
    assert all("Sign in" not in (f.content() if not f.is_detached() else "") for f in framed)


def test_attacker_controlled_text_renders_as_text_with_no_csp_violation(watched_page: Page, server, base):
    ssm, kms = server.client("ssm"), server.client("kms")
    name = f"{base}/xss/param"
    ssm.put_parameter(Name=name, Value=NASTY_SCRIPT + NASTY_IMG, Type="String", Description=NASTY_IMG + NASTY_SCRIPT)
    ssm.put_parameter(Name=f"{base}/xss/secure", Value=NASTY_IMG, Type="SecureString", Description=NASTY_SCRIPT)
    ssm.put_parameter(Name=name, Value="v2 " + NASTY_IMG, Type="String", Overwrite=True)
    key = kms.create_key(Description=NASTY_SCRIPT + NASTY_IMG,
                         Tags=[{"TagKey": "owner", "TagValue": NASTY_IMG}])["KeyMetadata"]
    page = watched_page
    sign_in(page, server)
    for path in (f"/console/parameters?path={base}/xss/", f"/console/parameter?name={name}",
                 f"/console/parameter?name={base}/xss/secure", f"/console/key?id={key['Arn']}"):
        page.goto(server.url + path)
        page.wait_for_load_state("load")
    page.goto(f"{server.url}/console/parameter?name={base}/xss/secure")
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator(".revealed code")).to_have_text(NASTY_IMG)
    # a name no API accepts: the error echoes it, as text
    page.goto(f"{server.url}/console/parameter/new")
    page.get_by_label("Name").fill(f"{base}/{NASTY_SCRIPT}")
    page.get_by_label("Value", exact=True).fill(NASTY_IMG)
    page.locator("#save").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.goto(f"{server.url}/console/parameter?name={name}")
    expect(page.locator("dl.meta")).to_contain_text(NASTY_IMG + NASTY_SCRIPT)  # the description, as text
    expect(page.locator("tbody")).to_contain_text(NASTY_SCRIPT + NASTY_IMG)  # version 1's value, as text
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    page.get_by_label("as").fill("ok")
    page.get_by_label("Tag key").fill("note")
    page.get_by_label("value", exact=True).fill("plain")
    page.locator("#add-tag").click()
    expect(page.locator("table.compact")).to_contain_text("note")
    assert page.dialogs == [], page.dialogs
    assert csp_violations(page) == []

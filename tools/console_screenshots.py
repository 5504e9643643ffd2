"""Regenerate the console screenshots in docs/console/ (shown in the README).

Starts a server on a fresh temporary data directory (as the tests do), fills it with a
small, realistic store (a parameter hierarchy, SecureStrings, keys, a secret, a user),
signs in with chromium (Debian's: /usr/bin/chromium, or PARAMSTORE_CHROMIUM) and saves
one PNG per main page.

    .venv/bin/python tools/console_screenshots.py [--out docs/console]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, start_server  # noqa: E402


def seed(server) -> dict:
    ssm, kms, sm, iam = (server.client(s) for s in ("ssm", "kms", "secretsmanager", "iam"))
    key = kms.create_key(Description="Payments application data",
                         Tags=[{"TagKey": "team", "TagValue": "payments"}])["KeyMetadata"]
    kms.create_alias(AliasName="alias/payments", TargetKeyId=key["KeyId"])
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    other = kms.create_key(Description="Old reporting key")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=other, PendingWindowInDays=7)
    kms.create_key(Description="Signing", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    for env in ("prod", "staging"):
        ssm.put_parameter(Name=f"/payments/{env}/db/host", Value=f"db.{env}.internal", Type="String",
                          Description="Database host")
        ssm.put_parameter(Name=f"/payments/{env}/db/password", Value=f"{env}-Tr0ub4dor&3", Type="SecureString",
                          KeyId="alias/payments", Description="Database password",
                          Tags=[{"Key": "owner", "Value": "payments"}])
        ssm.put_parameter(Name=f"/payments/{env}/feature-flags", Value="checkout-v2,fast-refunds",
                          Type="StringList")
        ssm.put_parameter(Name=f"/payments/{env}/api/timeout-ms", Value="2500", Type="String")
    ssm.put_parameter(Name="/payments/prod/db/password", Value="prod-correct-horse", Type="SecureString",
                      KeyId="alias/payments", Overwrite=True)
    ssm.label_parameter_version(Name="/payments/prod/db/password", ParameterVersion=2, Labels=["current"])
    ssm.put_parameter(Name="/payments/prod/api/timeout-ms", Value="3000", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/checkout/prod/endpoint", Value="https://checkout.internal", Type="String")
    sm.create_secret(Name="payments/prod/stripe", SecretString=json.dumps({"api_key": "sk_live_example"}),
                     Description="Stripe API key")
    iam.create_user(UserName="deploy-bot")
    iam.put_user_policy(UserName="deploy-bot", PolicyName="read-params", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameter*"],
                                                "Resource": "arn:aws:ssm:*:111122223333:parameter/payments/*"}]}))
    return {"key": key}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "console"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("PARAMSTORE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        server, stop = start_server(Path(tmp) / "data", None, "sqlite")
        try:
            made = seed(server)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{server.url}/console/signin")
                page.screenshot(path=str(out / "signin.png"))
                page.get_by_label("Access key ID").fill(ACCESS_KEY_ID)
                page.get_by_label("Secret access key").fill(SECRET_ACCESS_KEY)
                page.get_by_role("button", name="Sign in").click()
                shots = [
                    ("parameters.png", "/console/parameters?path=/payments/prod/", None),
                    ("parameter.png", "/console/parameter?name=/payments/prod/db/password", "Reveal"),
                    ("keys.png", "/console/keys", None),
                    ("key.png", f"/console/key?id={made['key']['Arn']}", None),
                    ("secret.png", "/console/secrets", None),
                    ("audit.png", "/console/audit", "Verify the chain"),
                    ("identity.png", "/console/identity", None),
                ]
                for name, path, click in shots:
                    page.goto(server.url + path)
                    if click:
                        page.get_by_role("button", name=click).first.click()
                        page.wait_for_timeout(400)
                    page.screenshot(path=str(out / name), full_page=False)
                    print(f"wrote {out / name}")
                browser.close()
        finally:
            stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

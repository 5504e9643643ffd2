"""An application that loads its configuration from Parameter Store at startup.

It knows nothing of paramstore: boto3 finds the server in AWS_ENDPOINT_URL_SSM and the
credentials and region in the usual variables, exactly as it would find AWS.  It reads every
parameter under APP_PARAM_PATH (default /myapp/prod), decrypted, and prints them as JSON
(full name -> value)."""

import json
import os

import boto3


def load_config(path: str) -> dict[str, str]:
    ssm = boto3.client("ssm")
    config: dict[str, str] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True,
                                                                     WithDecryption=True):
        for parameter in page["Parameters"]:
            config[parameter["Name"]] = parameter["Value"]
    return config


if __name__ == "__main__":
    print(json.dumps(load_config(os.environ.get("APP_PARAM_PATH", "/myapp/prod")), ensure_ascii=False))

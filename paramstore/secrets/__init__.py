"""AWS Secrets Manager on the shared endpoint (X-Amz-Target: secretsmanager.*).

Laid out like the Parameter Store (paramstore/ssm/): errors.py maps the AWS error codes,
operations/ has one function per AWS operation, targets.py is the dispatch table.  It
reaches KMS and authorization through kms_core.port only."""

"""paramstore: a self-hosted AWS KMS and SSM Parameter Store, on the AWS wire protocols."""

__version__ = "0.1.0"

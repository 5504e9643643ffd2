"""The Parameter Store: AWS SSM's parameter API (AmazonSSM.*) over the KMS core."""

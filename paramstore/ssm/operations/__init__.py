"""One function per AmazonSSM operation, named as the AWS operation in snake_case."""

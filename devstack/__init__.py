"""Local stand-ins for the AWS services and memories.ai, for running the pipeline without an AWS account."""

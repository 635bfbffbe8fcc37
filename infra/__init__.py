"""The AWS CDK app that deploys the memories.ai ingest pipeline (see docs/deploy.md)."""

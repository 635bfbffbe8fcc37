"""Infrastructure tests: the synthesized CloudFormation template, cdk-nag, cfn-lint and bundling."""

"""The two secrets: the memories.ai API key (imported, or created empty) and the callback signing key."""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

__all__ = ["ProviderSecrets"]

SIGNING_KEY_LENGTH = 64


class ProviderSecrets(Construct):
    """``api_key`` holds the raw memories.ai key string; ``signing_key`` a 64-character random string
    that signs the per-video callback tokens.

    Without ``api_key_secret_name`` / ``api_key_secret_arn`` the API key secret is created with no
    value at all (CloudFormation creates an empty secret when neither SecretString nor
    GenerateSecretString is given); the operator sets it once with ``put_value_command``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_key_secret_name: str | None = None,
        api_key_secret_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.created_api_key: secretsmanager.Secret | None = None
        self.api_key: secretsmanager.ISecret
        if api_key_secret_arn is not None:
            self.api_key = secretsmanager.Secret.from_secret_complete_arn(self, "ApiKey", api_key_secret_arn)
        elif api_key_secret_name is not None:
            self.api_key = secretsmanager.Secret.from_secret_name_v2(self, "ApiKey", api_key_secret_name)
        else:
            self.created_api_key = secretsmanager.Secret(
                self,
                "ApiKey",
                description="memories.ai API key (the raw key string). Set it with the stack's PutApiKeyCommand output.",
            )
            # The L2 construct always generates a value; a random string would be sent to the provider
            # as a key. Without it the secret has no value until the operator sets the real one.
            cast(
                secretsmanager.CfnSecret, self.created_api_key.node.default_child
            ).add_property_deletion_override("GenerateSecretString")
            self.api_key = self.created_api_key

        # Rotation: put-secret-value with a new random value of at least 32 characters moves the old
        # one to AWSPREVIOUS, which the callback function still verifies with (docs/deploy.md).
        self.signing_key = secretsmanager.Secret(
            self,
            "CallbackSigningKey",
            description="Signs the per-video callback tokens of the memories.ai ingest pipeline.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=SIGNING_KEY_LENGTH
            ),
        )

    @property
    def api_key_secret_id(self) -> str:
        """What the functions pass to GetSecretValue: the name when imported by name (a partial ARN
        would be ambiguous), the ARN otherwise."""
        return self.api_key.secret_name if self.api_key.secret_full_arn is None else self.api_key.secret_arn

    @property
    def put_value_command(self) -> str:
        # The key is read from a file (or typed in the console), never written on a command line,
        # where shell history and the process list would keep it.
        return (
            f"aws secretsmanager put-secret-value --secret-id {self.api_key_secret_id} "
            "--secret-string file://memories-api-key.txt"
        )

    def grant_read_api_key(self, grantee: iam.IGrantable) -> None:
        _grant_get_value(self.api_key, grantee)

    def grant_read_signing_key(self, grantee: iam.IGrantable) -> None:
        _grant_get_value(self.signing_key, grantee)


def _grant_get_value(secret: secretsmanager.ISecret, grantee: iam.IGrantable) -> None:
    # Only GetSecretValue: ``ISecret.grant_read`` adds DescribeSecret, which the functions never call.
    # A secret imported by name has no full ARN; ``-??????`` matches the suffix Secrets Manager adds.
    arn = secret.secret_full_arn or f"{secret.secret_arn}-??????"
    iam.Grant.add_to_principal(
        grantee=grantee, actions=["secretsmanager:GetSecretValue"], resource_arns=[arn]
    )

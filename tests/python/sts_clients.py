"""Real AWS clients against `fragseal kms serve`'s STS and KMS (driven by tests/server_sts_clients.rs).

Usage: sts_clients.py MODE  with the environment:
  FRAGSEAL_ENDPOINT  http://127.0.0.1:PORT (KMS and STS on the same listener)
  FRAGSEAL_KEY_ARN   the stream key (account A)
  FRAGSEAL_ROLE_ARN  the producer role (account A, trusts account B with an ExternalId)
  FRAGSEAL_CONSUMER_ARN the consumer role (account A, trusts A; alice may assume it)
  FRAGSEAL_EXTERNAL_ID, CAM_KEY/CAM_SECRET (B's user), ALICE_KEY/ALICE_SECRET (A's user)
MODE: roles (boto3 STS then KMS allowed/denied, the ESDK with assumed-role sessions)
      expired (a 15-minute session on a server 20 minutes ahead).
Prints one JSON object with the observed outcomes; exits non-zero only on an unexpected
exception.
"""

import base64
import json
import os
import sys

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["FRAGSEAL_ENDPOINT"]
REGION = "us-east-1"
CONTEXT = {"aws:kinesisvideo:arn": "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1"}
CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, key, secret, token=None):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=CONFIG,
    )


def assume(key, secret, role, session, **extra):
    sts = client("sts", key, secret)
    out = sts.assume_role(RoleArn=role, RoleSessionName=session, **extra)
    c = out["Credentials"]
    return c, out["AssumedRoleUser"]


def error_code(call):
    try:
        call()
        return "OK"
    except ClientError as e:
        return e.response["Error"]["Code"]


def session_clients(c):
    return client("kms", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def roles():
    key_arn = os.environ["FRAGSEAL_KEY_ARN"]
    out = {}
    cam = (os.environ["CAM_KEY"], os.environ["CAM_SECRET"])
    alice = (os.environ["ALICE_KEY"], os.environ["ALICE_SECRET"])
    ext = os.environ["FRAGSEAL_EXTERNAL_ID"]
    prod, user = assume(*cam, os.environ["FRAGSEAL_ROLE_ARN"], "cam-1", ExternalId=ext, DurationSeconds=900)
    out["producer_arn"] = user["Arn"]
    out["producer_akid"] = prod["AccessKeyId"]
    out["expiration_is_datetime"] = hasattr(prod["Expiration"], "tzinfo")
    out["wrong_external_id"] = error_code(
        lambda: assume(*cam, os.environ["FRAGSEAL_ROLE_ARN"], "cam-2", ExternalId="nope")
    )
    sts = client("sts", prod["AccessKeyId"], prod["SecretAccessKey"], prod["SessionToken"])
    out["caller_arn"] = sts.get_caller_identity()["Arn"]
    kms = session_clients(prod)
    gdk = kms.generate_data_key(KeyId=key_arn, KeySpec="AES_256", EncryptionContext=CONTEXT)
    out["producer_generate"] = "OK"
    blob = gdk["CiphertextBlob"]
    out["producer_decrypt"] = error_code(
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    )
    cons, _ = assume(*alice, os.environ["FRAGSEAL_CONSUMER_ARN"], "viewer")
    ckms = session_clients(cons)
    opened = ckms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    out["consumer_decrypt_matches"] = opened["Plaintext"] == gdk["Plaintext"]
    out["consumer_generate"] = error_code(
        lambda: ckms.generate_data_key(KeyId=key_arn, KeySpec="AES_256")
    )
    out["no_token"] = error_code(
        lambda: client("kms", prod["AccessKeyId"], prod["SecretAccessKey"]).generate_data_key(
            KeyId=key_arn, KeySpec="AES_256"
        )
    )
    out["esdk"] = esdk(key_arn, prod, cons)
    print(json.dumps(out))


def botocore_session(c):
    s = botocore.session.Session()
    s.set_credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    s.set_config_variable("region", REGION)
    return s


def esdk(key_arn, prod, cons):
    """The Python ESDK: encrypt with the producer's session, decrypt with the consumer's."""
    import aws_encryption_sdk
    from aws_encryption_sdk import CommitmentPolicy
    from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

    os.environ["AWS_ENDPOINT_URL_KMS"] = ENDPOINT
    esdk_client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    seal = StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=botocore_session(prod))
    message, _ = esdk_client.encrypt(source=b"fragment-0001", key_provider=seal, encryption_context=CONTEXT)
    result = {"sealed": True}
    try:
        esdk_client.decrypt(source=message, key_provider=seal)
        result["producer_opens"] = True
    except Exception as e:  # noqa: BLE001 - the ESDK wraps the KMS refusal
        result["producer_opens"] = False
        result["producer_error"] = type(e).__name__
    open_ = StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=botocore_session(cons))
    plaintext, _ = esdk_client.decrypt(source=message, key_provider=open_)
    result["consumer_opens"] = plaintext == b"fragment-0001"
    return result


def expired():
    key_arn = os.environ["FRAGSEAL_KEY_ARN"]
    cam = (os.environ["CAM_KEY"], os.environ["CAM_SECRET"])
    ext = os.environ["FRAGSEAL_EXTERNAL_ID"]
    role = os.environ["FRAGSEAL_ROLE_ARN"]
    short, _ = assume(*cam, role, "short", ExternalId=ext, DurationSeconds=900)
    hour, _ = assume(*cam, role, "hour", ExternalId=ext, DurationSeconds=3600)
    out = {
        "short": error_code(lambda: session_clients(short).generate_data_key(KeyId=key_arn, KeySpec="AES_256")),
        "short_sts": error_code(
            lambda: client("sts", short["AccessKeyId"], short["SecretAccessKey"], short["SessionToken"]).get_caller_identity()
        ),
        "hour": error_code(lambda: session_clients(hour).generate_data_key(KeyId=key_arn, KeySpec="AES_256")),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    {"roles": roles, "expired": expired}[sys.argv[1]]()

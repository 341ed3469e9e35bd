"""The Python AWS Encryption SDK as fragseal's interop peer.

One process handles a whole batch described by a JSON job file, so the Rust tests pay Python's
start-up cost once per direction:

    python esdk_peer.py JOB.json          -> prints one JSON result object on stdout

Job:
    {
      "provider": {"kind": "raw-aes", "namespace": "...", "key_name": "...", "key_hex": "64 hex"}
               |  {"kind": "aws-kms", "key_arn": "arn:aws:kms:..."},
      "encrypt": [{"name": "...", "plaintext": PATH, "ciphertext": OUT_PATH,
                   "frame_length": N, "encryption_context": {...}}],
      "decrypt": [{"name": "...", "ciphertext": PATH, "plaintext": OUT_PATH,
                   "encryption_context": {...}}]
    }

For "aws-kms" the KMS endpoint, region and credentials come from the environment
(AWS_ENDPOINT_URL_KMS, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), so the
SDK's own StrictAwsKmsMasterKeyProvider is used unmodified.

Every message is encrypted with suite 0x0478 (AES_256_GCM_HKDF_SHA512_COMMIT_KEY) under the
REQUIRE_ENCRYPT_REQUIRE_DECRYPT commitment policy; decryption requires that same policy, and checks
that the message used suite 0x0478 and that its encryption context contains every expected pair.

Result: {"results": [{"name": ..., "op": "encrypt"|"decrypt", "ok": true} |
                     {"name": ..., "op": ..., "ok": false, "error": "..."}],
         "esdk_version": "..."}
"""

import binascii
import json
import sys
import traceback

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey

SUITE = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


def key_provider(spec):
    kind = spec["kind"]
    if kind == "raw-aes":
        return RawMasterKey(
            provider_id=spec["namespace"],
            key_id=spec["key_name"].encode("utf-8"),
            wrapping_key=WrappingKey(
                wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                wrapping_key=binascii.unhexlify(spec["key_hex"]),
                wrapping_key_type=EncryptionKeyType.SYMMETRIC,
            ),
        )
    if kind == "aws-kms":
        return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[spec["key_arn"]])
    raise ValueError("unknown provider kind %r" % kind)


def main(job_path):
    with open(job_path, "r", encoding="utf-8") as f:
        job = json.load(f)
    provider = key_provider(job["provider"])
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    results = []

    for case in job.get("encrypt", []):
        entry = {"name": case["name"], "op": "encrypt"}
        try:
            with open(case["plaintext"], "rb") as f:
                plaintext = f.read()
            ciphertext, _header = client.encrypt(
                source=plaintext,
                key_provider=provider,
                algorithm=SUITE,
                frame_length=case["frame_length"],
                encryption_context=case.get("encryption_context", {}),
            )
            with open(case["ciphertext"], "wb") as f:
                f.write(ciphertext)
            entry["ok"] = True
        except Exception:  # noqa: BLE001 - every failure is reported to the Rust side
            entry["ok"] = False
            entry["error"] = traceback.format_exc()
        results.append(entry)

    for case in job.get("decrypt", []):
        entry = {"name": case["name"], "op": "decrypt"}
        try:
            with open(case["ciphertext"], "rb") as f:
                ciphertext = f.read()
            plaintext, header = client.decrypt(source=ciphertext, key_provider=provider)
            if header.algorithm != SUITE:
                raise ValueError("message used suite %r, expected 0x0478" % (header.algorithm,))
            expected = case.get("encryption_context", {})
            got = dict(header.encryption_context)
            for k, v in expected.items():
                if got.get(k) != v:
                    raise ValueError("encryption context %r lacks %r=%r" % (got, k, v))
            with open(case["plaintext"], "wb") as f:
                f.write(plaintext)
            entry["ok"] = True
            entry["frame_length"] = header.frame_length
        except Exception:  # noqa: BLE001
            entry["ok"] = False
            entry["error"] = traceback.format_exc()
        results.append(entry)

    json.dump({"results": results, "esdk_version": aws_encryption_sdk.__version__}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: esdk_peer.py JOB.json\n")
        sys.exit(2)
    main(sys.argv[1])

"""Encrypts messages with the Python AWS Encryption SDK for tests/suites_python_signed.rs.

Usage: esdk_signed_encrypt.py JOB.json

The job file:
    {
      "key": {"namespace": "...", "key_name": "...", "key_hex": "64 hex"},
      "cases": [
        {"name": "...", "suite": null | 276 (the suite id, e.g. 0x0114),
         "frame_length": 4096 (0 = non-framed), "plaintext": "path", "ciphertext": "path",
         "encryption_context": {...}}
      ]
    }

A case without a suite uses the SDK's default suite (0x0578, signed) under
REQUIRE_ENCRYPT_REQUIRE_DECRYPT. A case naming a non-committing suite is encrypted under
FORBID_ENCRYPT_ALLOW_DECRYPT, the only policy under which the SDK writes them. Prints one JSON
object per case on stdout: {"name", "ok", "suite" (the header's suite id) | "error"}.
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


def key_provider(spec):
    return RawMasterKey(
        provider_id=spec["namespace"],
        key_id=spec["key_name"].encode("utf-8"),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=binascii.unhexlify(spec["key_hex"]),
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )


def main(job_path):
    with open(job_path, "r", encoding="utf-8") as f:
        job = json.load(f)
    provider = key_provider(job["key"])
    for case in job["cases"]:
        entry = {"name": case["name"]}
        try:
            with open(case["plaintext"], "rb") as f:
                plaintext = f.read()
            kwargs = {
                "source": plaintext,
                "key_provider": provider,
                "frame_length": case["frame_length"],
                "encryption_context": case.get("encryption_context", {}),
            }
            suite = case.get("suite")
            if suite is None:
                policy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
            else:
                algorithm = Algorithm.get_by_id(suite)
                kwargs["algorithm"] = algorithm
                policy = (
                    CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
                    if algorithm.is_committing()
                    else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
                )
            client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
            ciphertext, header = client.encrypt(**kwargs)
            with open(case["ciphertext"], "wb") as f:
                f.write(ciphertext)
            entry["ok"] = True
            entry["suite"] = header.algorithm.algorithm_id
        except Exception:  # noqa: BLE001 - every failure is reported to the Rust side
            entry["ok"] = False
            entry["error"] = traceback.format_exc()
        print(json.dumps(entry))
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])

"""The Python AWS Encryption SDK as fragseal's interop peer.

One process handles a whole batch described by a JSON job file, so the Rust tests pay Python's
start-up cost once per direction:

    python esdk_peer.py JOB.json          -> prints one JSON result object on stdout

Job:
    {
      "provider": {"kind": "raw-aes", "namespace": "...", "key_name": "...", "key_hex": "64 hex"}
               |  {"kind": "aws-kms", "key_arn": "arn:aws:kms:..."},
      "encrypt": [{"name": "...", "plaintext": PATH, "ciphertext": OUT_PATH,
                   "frame_length": N, "encryption_context": {...},
                   "suite": "0x0478" | "0x0578" | "default"}],
      "decrypt": [{"name": "...", "ciphertext": PATH, "plaintext": OUT_PATH,
                   "encryption_context": {...}, "suite": "0x0478" | "0x0578"}]
    }

For "aws-kms" the KMS endpoint, region and credentials come from the environment
(AWS_ENDPOINT_URL_KMS, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), so the
SDK's own StrictAwsKmsMasterKeyProvider is used unmodified.

Messages are encrypted under the REQUIRE_ENCRYPT_REQUIRE_DECRYPT commitment policy with the case's
"suite": 0x0478 (AES_256_GCM_HKDF_SHA512_COMMIT_KEY, the default of this peer), 0x0578
(AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384), or "default" (no algorithm passed: the SDK's own
default, which is 0x0578). Decryption requires that same policy, checks that the message used the
case's suite (default 0x0478) and that its encryption context contains every expected pair; for a
signed suite the SDK itself verifies the footer's signature with the context's public key.

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

SUITES = {
    "0x0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0x0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}


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
            kwargs = {}
            suite = case.get("suite", "0x0478")
            if suite != "default":
                kwargs["algorithm"] = SUITES[suite]
            ciphertext, header = client.encrypt(
                source=plaintext,
                key_provider=provider,
                frame_length=case["frame_length"],
                encryption_context=case.get("encryption_context", {}),
                **kwargs
            )
            entry["suite"] = "0x%04x" % header.algorithm.algorithm_id
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
            want = case.get("suite", "0x0478")
            if header.algorithm != SUITES[want]:
                raise ValueError("message used suite %r, expected %s" % (header.algorithm, want))
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

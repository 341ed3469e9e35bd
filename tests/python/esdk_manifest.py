"""The Python AWS Encryption SDK (4.x) on AWS test-vector framework manifests, for
tests/esdk_vectors.rs.

    esdk_manifest.py generate OUT_DIR SUITES
        Writes an awses-decrypt v2 manifest (OUT_DIR/manifest.json), its keys manifest
        (keys.json, fresh random AES-128/192/256 keys and an RSA-2048 key pair), plaintexts
        and ciphertexts made by the Python ESDK: raw AES and raw RSA master keys (every
        padding), several frame lengths and encryption contexts, one or two master keys, for
        each suite of SUITES (comma-separated hex ids, e.g. 0478,0578,0014). Non-committing
        suites are encrypted under FORBID_ENCRYPT_ALLOW_DECRYPT (the only policy that writes
        them). Two negative tests per suite: a flipped body byte, and a key the message was
        not encrypted for.

    esdk_manifest.py decrypt MANIFEST_DIR
        Decrypts every test of the awses-decrypt manifest MANIFEST_DIR/manifest.json with the
        Python ESDK (commitment policy REQUIRE_ENCRYPT_ALLOW_DECRYPT, the framework's raw
        master keys) and prints one JSON object: {"results": {test: "pass" | "fail: why"}}.

Never tune this to fragseal: a disagreement is investigated and written down.
"""

import base64
import json
import logging
import os
import sys

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

NAMESPACE = "fragseal-vectors"
AES_WRAP = {
    128: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    192: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    256: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}
RSA_WRAP = {
    ("pkcs1", None): WrappingAlgorithm.RSA_PKCS1,
    ("oaep-mgf1", "sha1"): WrappingAlgorithm.RSA_OAEP_SHA1_MGF1,
    ("oaep-mgf1", "sha256"): WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
    ("oaep-mgf1", "sha384"): WrappingAlgorithm.RSA_OAEP_SHA384_MGF1,
    ("oaep-mgf1", "sha512"): WrappingAlgorithm.RSA_OAEP_SHA512_MGF1,
}
CONTEXTS = [
    {},
    {"purpose": "fragseal test vectors", "stream": "cam-1"},
    {"unicode \u00e9\u00e8": "\u4e2d\u6587 \U0001f600", "a": "b", "z": ""},
]


def load_keys(path):
    with open(path, "rb") as f:
        return json.load(f)["keys"]


def material(entry):
    m = entry["material"]
    if isinstance(m, list):
        m = entry.get("line-separator", "").join(m)
    return m


def master_key(spec, keys, for_encrypt):
    """A RawMasterKey for a framework master-key spec, or None for types not run here."""
    if spec["type"] != "raw":
        return None
    entry = keys[spec["key"]]
    key_id = entry.get("key-id", spec["key"]).encode("utf-8")
    if spec["encryption-algorithm"] == "aes":
        raw = base64.b64decode(material(entry))
        wk = WrappingKey(
            wrapping_algorithm=AES_WRAP[8 * len(raw)],
            wrapping_key=raw,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )
    else:
        alg = RSA_WRAP[(spec["padding-algorithm"], spec.get("padding-hash"))]
        pem = material(entry).encode("ascii")
        if entry["type"] == "private":
            kind = EncryptionKeyType.PRIVATE
        else:
            kind = EncryptionKeyType.PUBLIC
        wk = WrappingKey(wrapping_algorithm=alg, wrapping_key=pem, wrapping_key_type=kind)
    return RawMasterKey(provider_id=spec["provider-id"], key_id=key_id, wrapping_key=wk)


def provider(specs, keys, for_encrypt):
    mks = [m for m in (master_key(s, keys, for_encrypt) for s in specs) if m is not None]
    if not mks:
        return None
    first = mks[0]
    for m in mks[1:]:
        first.add_master_key_provider(m)
    return first


def uri_path(base, uri):
    assert uri.startswith("file://"), uri
    rel = uri[len("file://"):]
    assert not rel.startswith("/") and ".." not in rel.split("/"), uri
    return os.path.join(base, rel)


def aes_spec(bits):
    return {"type": "raw", "provider-id": NAMESPACE, "key": "aes-%d" % bits, "encryption-algorithm": "aes"}


def rsa_spec(padding, h):
    s = {"type": "raw", "provider-id": NAMESPACE, "key": "rsa-2048-private",
         "encryption-algorithm": "rsa", "padding-algorithm": padding}
    if h:
        s["padding-hash"] = h
    return s


def generate(out, suites):
    for d in ("ciphertexts", "plaintexts"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    keys = {}
    for bits in (128, 192, 256):
        keys["aes-%d" % bits] = {
            "key-id": "aes-%d" % bits, "encrypt": True, "decrypt": True, "algorithm": "aes",
            "type": "symmetric", "bits": bits, "encoding": "base64",
            "material": base64.b64encode(os.urandom(bits // 8)).decode("ascii"),
        }
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys["rsa-2048-private"] = {
        "key-id": "rsa-2048-private", "encrypt": True, "decrypt": True, "algorithm": "rsa",
        "type": "private", "bits": 2048, "encoding": "pem",
        "material": priv.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode("ascii"),
    }
    keys_doc = {"manifest": {"type": "keys", "version": 3}, "keys": keys}
    with open(os.path.join(out, "keys.json"), "w") as f:
        json.dump(keys_doc, f, indent=1)
    plaintexts = {"empty": b"", "small": os.urandom(10240), "odd": os.urandom(4097)}
    for name, data in plaintexts.items():
        with open(os.path.join(out, "plaintexts", name), "wb") as f:
            f.write(data)

    key_sets = [[aes_spec(b)] for b in (128, 192, 256)]
    key_sets += [[rsa_spec(p, h)] for (p, h) in RSA_WRAP]
    key_sets.append([aes_spec(256), rsa_spec("oaep-mgf1", "sha256")])
    frames = [0, 128, 512, 4096, 10240, 65536]
    tests = {}
    n = 0
    for suite_hex in suites:
        suite = Algorithm.get_by_id(int(suite_hex, 16))
        committing = suite.is_committing()
        policy = (CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT if committing
                  else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
        client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
        for i, specs in enumerate(key_sets):
            frame = frames[i % len(frames)]
            ec = CONTEXTS[i % len(CONTEXTS)]
            pt_name = ["small", "odd", "empty"][i % 3]
            kwargs = dict(source=plaintexts[pt_name], key_provider=provider(specs, keys, True),
                          encryption_context=ec, algorithm=suite, frame_length=frame)
            ct, _ = client.encrypt(**kwargs)
            name = "py-%s-%02d" % (suite_hex, i)
            with open(os.path.join(out, "ciphertexts", name), "wb") as f:
                f.write(ct)
            tests[name] = {
                "description": "Python ESDK %s: suite %s, frame %d, %d key(s), %d context pairs"
                % (aws_encryption_sdk.__version__, suite_hex, frame, len(specs), len(ec)),
                "ciphertext": "file://ciphertexts/" + name,
                "master-keys": specs,
                "result": {"output": {"plaintext": "file://plaintexts/" + pt_name}},
            }
            n += 1
            if i == 0:
                # Negative: one flipped byte in the last 40 bytes (body or signature).
                bad = bytearray(ct)
                bad[len(bad) - 20] ^= 0x01
                neg = name + "-tampered"
                with open(os.path.join(out, "ciphertexts", neg), "wb") as f:
                    f.write(bytes(bad))
                tests[neg] = {
                    "description": "one flipped byte near the end",
                    "ciphertext": "file://ciphertexts/" + neg,
                    "master-keys": specs,
                    "result": {"error": {"error-description": "a tag or the signature fails"}},
                }
                # Negative: decrypt with a key the message was not encrypted for.
                wrong = name + "-wrong-key"
                tests[wrong] = {
                    "description": "the decryptor holds another key",
                    "ciphertext": "file://ciphertexts/" + name,
                    "master-keys": [aes_spec(192)],
                    "result": {"error": {"error-description": "no matching key"}},
                }
    manifest = {
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "aws/aws-encryption-sdk-python", "version": aws_encryption_sdk.__version__},
        "keys": "file://keys.json",
        "tests": tests,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({"tests": len(tests), "positive": n}))


def decrypt(base):
    # The SDK logs every refused message's traceback ("Error on closing"); the result says it.
    logging.disable(logging.CRITICAL)
    with open(os.path.join(base, "manifest.json"), "rb") as f:
        manifest = json.load(f)
    keys = load_keys(uri_path(base, manifest["keys"]))
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
    results = {}
    for name, t in sorted(manifest["tests"].items()):
        with open(uri_path(base, t["ciphertext"]), "rb") as f:
            ct = f.read()
        mkp = provider(t["master-keys"], keys, False)
        if mkp is None:
            results[name] = "fail: no raw master key in the test"
            continue
        result = t["result"]
        try:
            pt, _ = client.decrypt(source=ct, key_provider=mkp)
            ok = True
        except Exception as e:  # noqa: BLE001 -- any refusal counts for a negative test
            ok, err = False, "%s: %s" % (type(e).__name__, e)
        if "output" in result:
            with open(uri_path(base, result["output"]["plaintext"]), "rb") as f:
                want = f.read()
            if not ok:
                results[name] = "fail: " + err
            elif pt != want:
                results[name] = "fail: plaintext differs"
            else:
                results[name] = "pass"
        else:
            results[name] = "fail: decrypted a negative test" if ok else "pass"
    print(json.dumps({"results": results}))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "generate":
        generate(sys.argv[2], [s for s in sys.argv[3].split(",") if s])
    elif len(sys.argv) == 3 and sys.argv[1] == "decrypt":
        decrypt(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

"""boto3 against `fragseal kms serve` (tests/server_clients.rs starts the server).

    python server_boto3.py CONFIG.json SECTION    -> prints {"section": ..., "checks": [...]}

CONFIG.json (written by the Rust test into the server's temp dir):
    {"endpoint": "http://127.0.0.1:PORT", "region": "us-east-1",
     "account": "111122223333", "other_account": "444455556666",
     "users": {"admin": {"access_key_id": ..., "secret": ..., "arn": ...}, ...}}

SECTION is one of: keys, data, data-extra, denials, cross-account, grants, tags.

Every check is an assertion: the first one that fails raises, the script exits non-zero with
the traceback, and the Rust test fails with it. On success the names of the checks that ran
are printed, and the Rust test compares them with the list it expects, so a section that
silently did less also fails. Each denial is checked with AWS's exact error code (the
`__type` botocore parsed) and HTTP status. The secret access keys are never printed.
"""

import json
import sys
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

CHECKS = []


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError("%s failed %s" % (name, detail))
    CHECKS.append(name)


def expect_error(name, code, status, fn, **kwargs):
    try:
        out = fn(**kwargs)
    except ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        http = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if got != code or http != status:
            raise AssertionError(
                "%s: expected %s (HTTP %s), got %s (HTTP %s): %s"
                % (name, code, status, got, http, e.response.get("Error", {}).get("Message"))
            )
        CHECKS.append(name)
        return e
    raise AssertionError("%s: expected %s, call succeeded: %r" % (name, code, out))


class Env:
    def __init__(self, cfg):
        self.cfg = cfg
        self.clients = {}

    def kms(self, user, secret=None, access_key_id=None):
        u = self.cfg["users"][user]
        key = (user, secret, access_key_id)
        if key not in self.clients:
            self.clients[key] = boto3.session.Session().client(
                "kms",
                endpoint_url=self.cfg["endpoint"],
                region_name=self.cfg["region"],
                aws_access_key_id=access_key_id or u["access_key_id"],
                aws_secret_access_key=secret or u["secret"],
                # One attempt: a denial must come from the first answer, and a server error
                # must not be hidden by a retry.
                config=Config(retries={"max_attempts": 1, "mode": "standard"}),
            )
        return self.clients[key]

    def arn(self, user):
        return self.cfg["users"][user]["arn"]

    def root(self, account=None):
        return "arn:aws:iam::%s:root" % (account or self.cfg["account"])

    def new_key(self, description, **kwargs):
        meta = self.kms("admin").create_key(Description=description, **kwargs)["KeyMetadata"]
        return meta


def policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def root_admin_statement(env):
    return {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": env.root()},
        "Action": "kms:*",
        "Resource": "*",
    }


def section_keys(env):
    admin = env.kms("admin")
    meta = env.new_key("boto3 keys")
    arn, key_id = meta["Arn"], meta["KeyId"]
    check("create_key.arn", arn == "arn:aws:kms:%s:%s:key/%s" % (
        env.cfg["region"], env.cfg["account"], key_id), arn)
    check("create_key.state", meta["KeyState"] == "Enabled" and meta["Enabled"] is True, meta)
    check("create_key.spec", meta.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
          and meta["KeyUsage"] == "ENCRYPT_DECRYPT", meta)
    described = admin.describe_key(KeyId=key_id)["KeyMetadata"]
    check("describe_key", described["Arn"] == arn and described["Description"] == "boto3 keys",
          described)
    alias = "alias/boto3-%s" % uuid.uuid4().hex[:12]
    admin.create_alias(AliasName=alias, TargetKeyId=arn)
    by_alias = admin.describe_key(KeyId=alias)["KeyMetadata"]
    check("describe_key.alias", by_alias["Arn"] == arn, by_alias)
    aliases = admin.list_aliases()["Aliases"]
    check("list_aliases", any(a["AliasName"] == alias and a.get("TargetKeyId") == key_id
                              for a in aliases), aliases)
    keys = [k["KeyArn"] for k in admin.list_keys()["Keys"]]
    check("list_keys", arn in keys, keys)

    default = json.loads(admin.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    check("get_key_policy.default", any(
        s.get("Effect") == "Allow" and s.get("Action") in ("kms:*", ["kms:*"])
        and env.root() in json.dumps(s.get("Principal")) for s in default["Statement"]), default)
    new_policy = policy([
        root_admin_statement(env),
        {"Sid": "AliceUse", "Effect": "Allow", "Principal": {"AWS": env.arn("alice")},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
    ])
    admin.put_key_policy(KeyId=key_id, PolicyName="default", Policy=new_policy)
    got = json.loads(admin.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
    check("put_get_key_policy", got == json.loads(new_policy), got)
    expect_error("put_key_policy.malformed", "MalformedPolicyDocumentException", 400,
                 admin.put_key_policy, KeyId=key_id, PolicyName="default", Policy="{not json")
    admin.disable_key(KeyId=key_id)
    check("disable_key", admin.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
          == "Disabled")
    expect_error("generate_data_key.disabled", "DisabledException", 400,
                 admin.generate_data_key, KeyId=key_id, KeySpec="AES_256")
    admin.enable_key(KeyId=key_id)
    out = admin.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    check("schedule_key_deletion", out["KeyState"] == "PendingDeletion", out)
    expect_error("generate_data_key.pending_deletion", "KMSInvalidStateException", 400,
                 admin.generate_data_key, KeyId=key_id, KeySpec="AES_256")
    admin.cancel_key_deletion(KeyId=key_id)
    check("cancel_key_deletion", admin.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
          == "Disabled")


def section_data(env):
    meta = env.new_key("boto3 data")
    arn, key_id = meta["Arn"], meta["KeyId"]
    alias = "alias/boto3-data-%s" % uuid.uuid4().hex[:12]
    env.kms("admin").create_alias(AliasName=alias, TargetKeyId=key_id)
    alice = env.kms("alice")
    ec = {"aws:kinesisvideo:arn": "arn:aws:kinesisvideo:us-east-1:%s:stream/s/1" %
          env.cfg["account"], "tenant": "t1"}
    dk = alice.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext=ec)
    check("generate_data_key", len(dk["Plaintext"]) == 32 and dk["KeyId"] == arn, dk["KeyId"])
    out = alice.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ec)
    check("decrypt", out["Plaintext"] == dk["Plaintext"] and out["KeyId"] == arn, out["KeyId"])
    out = alice.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ec, KeyId=alias)
    check("decrypt.expected_key", out["Plaintext"] == dk["Plaintext"])
    expect_error("decrypt.wrong_context", "InvalidCiphertextException", 400,
                 alice.decrypt, CiphertextBlob=dk["CiphertextBlob"],
                 EncryptionContext=dict(ec, tenant="t2"))
    expect_error("decrypt.garbage", "InvalidCiphertextException", 400,
                 alice.decrypt, CiphertextBlob=b"\x01" * 80)
    dk64 = alice.generate_data_key(KeyId=alias, NumberOfBytes=64)
    check("generate_data_key.bytes", len(dk64["Plaintext"]) == 64 and dk64["KeyId"] == arn)
    check("generate_data_key.fresh", dk64["Plaintext"][:32] != dk["Plaintext"])
    enc = alice.encrypt(KeyId=alias, Plaintext=b"fragseal over boto3", EncryptionContext=ec)
    check("encrypt", enc["KeyId"] == arn and b"fragseal over boto3" not in enc["CiphertextBlob"])
    out = alice.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=ec)
    check("encrypt.decrypt", out["Plaintext"] == b"fragseal over boto3")
    big = alice.encrypt(KeyId=arn, Plaintext=b"\x07" * 4096)
    check("encrypt.4096", alice.decrypt(CiphertextBlob=big["CiphertextBlob"])["Plaintext"]
          == b"\x07" * 4096)
    expect_error("encrypt.4097", "ValidationException", 400,
                 alice.encrypt, KeyId=arn, Plaintext=b"\x07" * 4097)
    expect_error("generate_data_key.both_specs", "ValidationException", 400,
                 alice.generate_data_key, KeyId=arn, KeySpec="AES_256", NumberOfBytes=32)
    expect_error("generate_data_key.1025", "ValidationException", 400,
                 alice.generate_data_key, KeyId=arn, NumberOfBytes=1025)
    d = alice.describe_key(KeyId=alias)["KeyMetadata"]
    check("describe_key.alice", d["Arn"] == arn)


def section_data_extra(env):
    meta = env.new_key("boto3 data-extra")
    arn = meta["Arn"]
    other = env.new_key("boto3 data-extra destination")["Arn"]
    alice = env.kms("alice")
    ec = {"purpose": "reencrypt"}
    wp = alice.generate_data_key_without_plaintext(KeyId=arn, KeySpec="AES_256",
                                                   EncryptionContext=ec)
    check("generate_data_key_without_plaintext", "Plaintext" not in wp and wp["KeyId"] == arn)
    plain = alice.decrypt(CiphertextBlob=wp["CiphertextBlob"], EncryptionContext=ec)["Plaintext"]
    check("generate_data_key_without_plaintext.decrypt", len(plain) == 32)
    re = alice.re_encrypt(CiphertextBlob=wp["CiphertextBlob"], SourceEncryptionContext=ec,
                          DestinationKeyId=other, DestinationEncryptionContext={"p": "2"})
    check("re_encrypt", re["KeyId"] == other and re["SourceKeyId"] == arn, re)
    again = alice.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext={"p": "2"})
    check("re_encrypt.decrypt", again["Plaintext"] == plain and again["KeyId"] == other)
    expect_error("re_encrypt.source_key", "IncorrectKeyException", 400,
                 alice.re_encrypt, CiphertextBlob=wp["CiphertextBlob"],
                 SourceEncryptionContext=ec, SourceKeyId=other, DestinationKeyId=other)
    # GenerateRandom is account-level: alice's data-only policy does not allow it; admin's does.
    expect_error("alice.generate_random", "AccessDeniedException", 400,
                 alice.generate_random, NumberOfBytes=48)
    rnd = env.kms("admin").generate_random(NumberOfBytes=48)
    check("generate_random", len(rnd["Plaintext"]) == 48)
    # (botocore itself refuses 0 before sending; it does not check the maximum.)
    expect_error("generate_random.1025", "ValidationException", 400,
                 env.kms("admin").generate_random, NumberOfBytes=1025)


def section_denials(env):
    meta = env.new_key("boto3 denials")
    arn, key_id = meta["Arn"], meta["KeyId"]
    alice, mallory = env.kms("alice"), env.kms("mallory")
    # A user whose identity policies allow nothing (the key policy delegates to IAM).
    expect_error("mallory.generate_data_key", "AccessDeniedException", 400,
                 mallory.generate_data_key, KeyId=arn, KeySpec="AES_256")
    expect_error("mallory.describe_key", "AccessDeniedException", 400,
                 mallory.describe_key, KeyId=arn)
    expect_error("mallory.create_key", "AccessDeniedException", 400, mallory.create_key)
    # alice's identity policy allows data calls only.
    expect_error("alice.put_key_policy", "AccessDeniedException", 400,
                 alice.put_key_policy, KeyId=key_id, PolicyName="default",
                 Policy=policy([root_admin_statement(env)]))
    expect_error("alice.create_key", "AccessDeniedException", 400, alice.create_key)
    expect_error("alice.disable_key", "AccessDeniedException", 400, alice.disable_key,
                 KeyId=key_id)
    # An explicit Deny in the key policy beats alice's identity Allow; admin is unaffected.
    env.kms("admin").put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy([
        root_admin_statement(env),
        {"Sid": "NoDecryptForAlice", "Effect": "Deny", "Principal": {"AWS": env.arn("alice")},
         "Action": "kms:Decrypt", "Resource": "*"},
    ]))
    dk = alice.generate_data_key(KeyId=arn, KeySpec="AES_256")
    check("alice.generate_data_key.allowed", len(dk["Plaintext"]) == 32)
    expect_error("alice.decrypt.explicit_deny", "AccessDeniedException", 400,
                 alice.decrypt, CiphertextBlob=dk["CiphertextBlob"])
    out = env.kms("admin").decrypt(CiphertextBlob=dk["CiphertextBlob"])
    check("admin.decrypt.allowed", out["Plaintext"] == dk["Plaintext"])
    # Unknown key id in the caller's account.
    expect_error("admin.unknown_key", "NotFoundException", 400,
                 env.kms("admin").describe_key, KeyId=str(uuid.uuid4()))
    expect_error("admin.unknown_alias", "NotFoundException", 400,
                 env.kms("admin").generate_data_key, KeyId="alias/none-such", KeySpec="AES_256")
    # Authentication: unknown access key, wrong secret.
    unknown = env.kms("alice", access_key_id="AKIAFRAGSEALUNKNOWN1")
    expect_error("unknown_access_key", "UnrecognizedClientException", 400,
                 unknown.generate_data_key, KeyId=arn, KeySpec="AES_256")
    wrong = env.kms("alice", secret="wrong" + env.cfg["users"]["alice"]["secret"][5:])
    expect_error("wrong_secret", "InvalidSignatureException", 400,
                 wrong.generate_data_key, KeyId=arn, KeySpec="AES_256")
    expect_error("wrong_secret.list_keys", "InvalidSignatureException", 400, wrong.list_keys)


def section_cross_account(env):
    meta = env.new_key("boto3 cross-account")
    arn, key_id = meta["Arn"], meta["KeyId"]
    carol = env.kms("carol")  # other account, identity policy kms:*
    expect_error("carol.before_key_policy", "AccessDeniedException", 400,
                 carol.generate_data_key, KeyId=arn, KeySpec="AES_256")
    # A bare key id resolves in the caller's own account, where it does not exist.
    expect_error("carol.bare_key_id", "NotFoundException", 400,
                 carol.generate_data_key, KeyId=key_id, KeySpec="AES_256")
    env.kms("admin").put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy([
        root_admin_statement(env),
        {"Sid": "OtherAccountUse", "Effect": "Allow",
         "Principal": {"AWS": env.root(env.cfg["other_account"])},
         "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey",
                    "kms:PutKeyPolicy"],
         "Resource": "*"},
    ]))
    dk = carol.generate_data_key(KeyId=arn, KeySpec="AES_256")
    check("carol.generate_data_key", dk["KeyId"] == arn and len(dk["Plaintext"]) == 32)
    out = carol.decrypt(CiphertextBlob=dk["CiphertextBlob"])
    check("carol.decrypt", out["Plaintext"] == dk["Plaintext"])
    # dave (same external account, no identity policy): the key policy alone is not enough.
    expect_error("dave.identity_half_missing", "AccessDeniedException", 400,
                 env.kms("dave").generate_data_key, KeyId=arn, KeySpec="AES_256")
    # PutKeyPolicy is not an operation KMS allows across accounts, whatever the policy says.
    expect_error("carol.put_key_policy", "AccessDeniedException", 400,
                 carol.put_key_policy, KeyId=arn, PolicyName="default",
                 Policy=policy([root_admin_statement(env)]))
    # Account-level calls act in the caller's own (served) account.
    own = carol.create_key(Description="carol's own")["KeyMetadata"]
    check("carol.create_key.own_account", own["Arn"].split(":")[4] == env.cfg["other_account"])


def section_grants(env):
    meta = env.new_key("boto3 grants")
    arn, key_id = meta["Arn"], meta["KeyId"]
    admin, bob = env.kms("admin"), env.kms("bob")
    ec = {"stream": "s1"}
    expect_error("bob.before_grant", "AccessDeniedException", 400,
                 bob.generate_data_key, KeyId=arn, KeySpec="AES_256", EncryptionContext=ec)
    g = admin.create_grant(
        KeyId=key_id, GranteePrincipal=env.arn("bob"), RetiringPrincipal=env.arn("alice"),
        Operations=["GenerateDataKey", "Decrypt"], Name="bob-s1",
        Constraints={"EncryptionContextSubset": ec})
    check("create_grant", bool(g["GrantId"]) and bool(g["GrantToken"]))
    dk = bob.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext=dict(ec, x="y"),
                               GrantTokens=[g["GrantToken"]])
    check("bob.grant.generate_data_key", len(dk["Plaintext"]) == 32)
    out = bob.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=dict(ec, x="y"))
    check("bob.grant.decrypt", out["Plaintext"] == dk["Plaintext"])
    expect_error("bob.grant.constraint", "AccessDeniedException", 400,
                 bob.generate_data_key, KeyId=arn, KeySpec="AES_256",
                 EncryptionContext={"stream": "s2"})
    expect_error("bob.grant.operation", "AccessDeniedException", 400,
                 bob.encrypt, KeyId=arn, Plaintext=b"x", EncryptionContext=ec)
    grants = admin.list_grants(KeyId=key_id)["Grants"]
    check("list_grants", any(x["GrantId"] == g["GrantId"] and x["GranteePrincipal"]
                             == env.arn("bob") and sorted(x["Operations"])
                             == ["Decrypt", "GenerateDataKey"] for x in grants), grants)
    retirable = admin.list_retirable_grants(RetiringPrincipal=env.arn("alice"))["Grants"]
    check("list_retirable_grants", [x["GrantId"] for x in retirable] == [g["GrantId"]],
          retirable)
    expect_error("create_grant.bad_operation", "ValidationException", 400,
                 admin.create_grant, KeyId=key_id, GranteePrincipal=env.arn("bob"),
                 Operations=["Fly"])
    expect_error("revoke_grant.unknown", "NotFoundException", 400,
                 admin.revoke_grant, KeyId=key_id, GrantId="0" * 64)
    # The retiring principal retires it; then bob is refused again.
    env.kms("alice").retire_grant(KeyId=arn, GrantId=g["GrantId"])
    check("retire_grant", admin.list_grants(KeyId=key_id)["Grants"] == [])
    expect_error("bob.after_retire", "AccessDeniedException", 400,
                 bob.generate_data_key, KeyId=arn, KeySpec="AES_256", EncryptionContext=ec)
    g2 = admin.create_grant(KeyId=key_id, GranteePrincipal=env.arn("bob"),
                            Operations=["Encrypt"])
    bob.encrypt(KeyId=arn, Plaintext=b"x")
    admin.revoke_grant(KeyId=key_id, GrantId=g2["GrantId"])
    expect_error("bob.after_revoke", "AccessDeniedException", 400,
                 bob.encrypt, KeyId=arn, Plaintext=b"x")


def section_tags(env):
    admin = env.kms("admin")
    meta = env.new_key("boto3 tags", Tags=[{"TagKey": "team", "TagValue": "video"}])
    key_id = meta["KeyId"]

    def tags():
        return sorted((t["TagKey"], t["TagValue"])
                      for t in admin.list_resource_tags(KeyId=key_id)["Tags"])

    check("create_key.tags", tags() == [("team", "video")], tags())
    admin.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "test"},
                                          {"TagKey": "team", "TagValue": "kvs"}])
    check("tag_resource", tags() == [("env", "test"), ("team", "kvs")], tags())
    admin.untag_resource(KeyId=key_id, TagKeys=["env"])
    check("untag_resource", tags() == [("team", "kvs")], tags())
    expect_error("tag_resource.reserved_prefix", "TagException", 400,
                 admin.tag_resource, KeyId=key_id, Tags=[{"TagKey": "aws:x", "TagValue": "1"}])
    expect_error("alice.tag_resource", "AccessDeniedException", 400,
                 env.kms("alice").tag_resource, KeyId=key_id,
                 Tags=[{"TagKey": "a", "TagValue": "b"}])


SECTIONS = {
    "keys": section_keys,
    "data": section_data,
    "data-extra": section_data_extra,
    "denials": section_denials,
    "cross-account": section_cross_account,
    "grants": section_grants,
    "tags": section_tags,
}


def main(config_path, section):
    with open(config_path, "r", encoding="utf-8") as f:
        cfg = json.load(f)
    SECTIONS[section](Env(cfg))
    json.dump({"section": section, "checks": CHECKS, "boto3": boto3.__version__,
               "botocore": botocore.__version__}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SECTIONS:
        sys.stderr.write("usage: server_boto3.py CONFIG.json {%s}\n" % "|".join(SECTIONS))
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])

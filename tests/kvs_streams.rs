//! Streams and their KMS key, as the KVS server-side encryption page describes them. Each test
//! is named after the documented behaviour it checks.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::kms::local::{Operation, KINESIS_VIDEO_ALIAS};
use fragseal::kvs::get_media::{read_tags, StartSelector, TAG_ERROR_ID};
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{
    AckEventType, CreateStreamInput, KvsErrorKind, ListStreamsInput, StreamRef, UpdateStreamInput,
};
use kvs_support::*;
use std::time::Duration;

fn by_name(n: &str) -> StreamRef {
    StreamRef::Name(n.into())
}

#[test]
fn stream_arn_is_region_account_name_and_creation_ms() {
    let w = world();
    let arn = w
        .kvs
        .create_stream(&root(), &CreateStreamInput::new("cam-1"))
        .unwrap();
    assert_eq!(
        arn,
        format!("arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/cam-1/1764547200000")
    );
    let d = w.kvs.describe_stream(&root(), &by_name("cam-1")).unwrap();
    assert_eq!(d.stream_arn, arn);
    assert_eq!(d.creation_time, 1_764_547_200_000);
    assert_eq!(d.data_retention_in_hours, 0);
}

#[test]
fn without_a_key_the_stream_uses_aws_kinesisvideo() {
    let w = world();
    w.kvs
        .create_stream(&root(), &CreateStreamInput::new("cam"))
        .unwrap();
    let d = w.kvs.describe_stream(&root(), &by_name("cam")).unwrap();
    assert_eq!(
        d.kms_key_id,
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/kinesisvideo")
    );
    assert!(d.uses_default_key());
}

#[test]
fn describe_and_list_streams_show_the_kms_key_id_as_given() {
    let w = world();
    let key = w.kms.create_key(&root(), None, "k").unwrap();
    for (name, id) in [
        ("by-arn", key.arn.clone()),
        ("by-id", key.key_id.clone()),
        ("by-alias", "alias/cams".to_owned()),
    ] {
        w.kvs
            .create_stream(&root(), &CreateStreamInput::new(name).with_kms_key_id(&id))
            .unwrap();
        assert_eq!(
            w.kvs
                .describe_stream(&root(), &by_name(name))
                .unwrap()
                .kms_key_id,
            id
        );
    }
    let list = w
        .kvs
        .list_streams(&root(), &ListStreamsInput::default())
        .unwrap();
    let shown: Vec<(&str, &str)> = list
        .stream_info_list
        .iter()
        .map(|s| (s.stream_name.as_str(), s.kms_key_id.as_str()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("by-alias", "alias/cams"),
            ("by-arn", key.arn.as_str()),
            ("by-id", key.key_id.as_str())
        ]
    );
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(json["StreamInfoList"][1]["KmsKeyId"], key.arn.as_str());
    assert!(json["StreamInfoList"][1]["StreamARN"].is_string());
}

#[test]
fn the_key_is_not_accessed_until_put_media_and_aws_kinesisvideo_appears_then() {
    let w = world();
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(1),
        )
        .unwrap();
    // CreateStream made no KMS call, and the managed key does not exist yet.
    assert!(w.kms.audit().events().is_empty());
    assert!(w
        .kms
        .list_aliases(&root(), None)
        .unwrap()
        .iter()
        .all(|a| a.alias_name != KINESIS_VIDEO_ALIAS));
    let (s, _) = put(
        &w.kvs,
        &root(),
        &PutMediaInput::absolute(by_name("cam")),
        SAMPLE,
    );
    assert_eq!(s.failure, None);
    assert_eq!(s.persisted, SAMPLE_CLUSTERS as u64);
    assert!(w
        .kms
        .list_aliases(&root(), None)
        .unwrap()
        .iter()
        .any(|a| a.alias_name == KINESIS_VIDEO_ALIAS));
}

#[test]
fn aws_kinesisvideo_appears_at_the_first_get_media() {
    let w = world();
    w.kvs
        .create_stream(&root(), &CreateStreamInput::new("cam"))
        .unwrap();
    let mut out = Vec::new();
    let s = w
        .kvs
        .get_media(&root(), &by_name("cam"), &StartSelector::Earliest, &mut out)
        .unwrap();
    assert_eq!(s.failure, None);
    assert_eq!(s.fragments, 0);
    assert!(w
        .kms
        .list_aliases(&root(), None)
        .unwrap()
        .iter()
        .any(|a| a.alias_name == KINESIS_VIDEO_ALIAS));
}

#[test]
fn a_missing_key_lets_create_stream_succeed_and_put_media_and_get_media_fail() {
    let w = world();
    let missing =
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    for (name, key) in [
        ("by-arn", missing.clone()),
        ("by-alias", "alias/nope".into()),
    ] {
        w.kvs
            .create_stream(&root(), &CreateStreamInput::new(name).with_kms_key_id(&key))
            .unwrap();
        let (s, acks) = put(
            &w.kvs,
            &root(),
            &PutMediaInput::absolute(by_name(name)),
            SAMPLE,
        );
        assert_eq!(s.persisted, 0, "{name}");
        assert_eq!(s.failure.unwrap().error_id.id(), 4506, "{name}");
        let last = acks.last().unwrap();
        assert_eq!(last.event_type, AckEventType::Error);
        assert_eq!(last.error_id, Some(4506));
        let mut out = Vec::new();
        let g = w
            .kvs
            .get_media(&root(), &by_name(name), &StartSelector::Earliest, &mut out)
            .unwrap();
        assert_eq!(g.failure.unwrap().error_id.id(), 4506);
        assert!(read_tags(&out).contains(&(TAG_ERROR_ID.into(), "4506".into())));
    }
}

#[test]
fn update_stream_cannot_change_the_key() {
    let w = world();
    w.kvs
        .create_stream(&root(), &CreateStreamInput::new("cam"))
        .unwrap();
    let d = w.kvs.describe_stream(&root(), &by_name("cam")).unwrap();
    let key = w.kms.create_key(&root(), None, "other").unwrap();
    let e = w
        .kvs
        .update_stream(
            &root(),
            &UpdateStreamInput {
                stream: by_name("cam"),
                current_version: d.version.clone(),
                device_name: None,
                media_type: None,
                kms_key_id: Some(key.arn),
                data_retention_in_hours: None,
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), KvsErrorKind::InvalidArgument);
    assert_eq!(e.code(), "InvalidArgumentException");
    let after = w.kvs.describe_stream(&root(), &by_name("cam")).unwrap();
    assert_eq!(after, d);
    // Other fields do change, and the version with them; a stale version is refused.
    let up = UpdateStreamInput {
        stream: by_name("cam"),
        current_version: d.version.clone(),
        device_name: Some("camera-7".into()),
        media_type: Some("video/h264".into()),
        kms_key_id: None,
        data_retention_in_hours: Some(2),
    };
    let new = w.kvs.update_stream(&root(), &up).unwrap();
    assert_ne!(new.version, d.version);
    assert_eq!(new.kms_key_id, d.kms_key_id);
    assert_eq!(new.data_retention_in_hours, 2);
    let e = w.kvs.update_stream(&root(), &up).unwrap_err();
    assert_eq!(e.code(), "VersionMismatchException");
}

#[test]
fn create_stream_with_a_taken_name_is_resource_in_use() {
    let w = world();
    w.kvs
        .create_stream(&root(), &CreateStreamInput::new("cam"))
        .unwrap();
    w.clock.advance(Duration::from_secs(1));
    let e = w
        .kvs
        .create_stream(&root(), &CreateStreamInput::new("cam"))
        .unwrap_err();
    assert_eq!(e.code(), "ResourceInUseException");
    for bad in ["", "a/b", "a b"] {
        let e = w
            .kvs
            .create_stream(&root(), &CreateStreamInput::new(bad))
            .unwrap_err();
        assert_eq!(e.code(), "InvalidArgumentException", "{bad:?}");
    }
}

#[test]
fn delete_stream_removes_it_and_its_fragments() {
    let w = world();
    let arn = w
        .kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(1),
        )
        .unwrap();
    put(
        &w.kvs,
        &root(),
        &PutMediaInput::absolute(by_name("cam")),
        SAMPLE,
    );
    assert_eq!(w.store.fragments(&arn).unwrap().len(), SAMPLE_CLUSTERS);
    let e = w
        .kvs
        .delete_stream(&root(), &StreamRef::Arn(arn.clone()), Some("stale"))
        .unwrap_err();
    assert_eq!(e.code(), "VersionMismatchException");
    w.kvs
        .delete_stream(&root(), &StreamRef::Arn(arn.clone()), None)
        .unwrap();
    assert!(w.store.fragments(&arn).unwrap().is_empty());
    let e = w.kvs.describe_stream(&root(), &by_name("cam")).unwrap_err();
    assert_eq!(e.code(), "ResourceNotFoundException");
}

#[test]
fn key_requests_happen_even_with_retention_0_and_nothing_is_stored() {
    let w = world();
    let arn = w
        .kvs
        .create_stream(&root(), &CreateStreamInput::new("cam"))
        .unwrap();
    let (s, acks) = put(
        &w.kvs,
        &root(),
        &PutMediaInput::absolute(by_name("cam")),
        SAMPLE,
    );
    assert_eq!(s.failure, None);
    assert_eq!(s.persisted, 0, "nothing stored");
    assert_eq!(
        acks.iter()
            .filter(|a| a.event_type == AckEventType::Persisted)
            .count(),
        SAMPLE_CLUSTERS
    );
    assert!(w.store.fragments(&arn).unwrap().is_empty());
    assert_eq!(
        w.kms.audit().count(&root(), Operation::GenerateDataKey),
        1,
        "one data key for the session's fragments"
    );
}

#[test]
fn calls_to_kms_carry_kms_via_service_kinesisvideo() {
    let w = world();
    let key = w.kms.create_key(&root(), None, "k").unwrap();
    // The key policy lets producers use the key only through KVS.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:GenerateDataKey",
             "Resource": "*",
             "Condition": {"StringNotEquals": {"kms:ViaService": format!("kinesisvideo.{REGION}.amazonaws.com")}}}
        ]
    });
    w.kms
        .put_key_policy(&root(), &key.arn, &policy.to_string())
        .unwrap();
    allow_producer(&w.kms, "producer");
    let producer = session("producer", "cam-1");
    // Directly: denied.
    let direct = fragseal::kms::Kms::generate_data_key(
        &*w.kms,
        &producer,
        &key.arn,
        fragseal::kms::DataKeySpec::Aes256,
        &fragseal::EncryptionContext::new(),
    )
    .unwrap_err();
    assert_eq!(direct.kind(), fragseal::kms::KmsErrorKind::AccessDenied);
    // Through KVS: allowed.
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_kms_key_id(&key.arn),
        )
        .unwrap();
    let (s, _) = put(
        &w.kvs,
        &producer,
        &PutMediaInput::absolute(by_name("cam")),
        SAMPLE,
    );
    assert_eq!(s.failure, None);
}

/// The key failures of PutMedia, each with its error id.
#[test]
fn put_media_reports_kms_failures_with_kvs_error_ids() {
    let w = world();
    allow_producer(&w.kms, "producer");
    let producer = session("producer", "cam-1");
    let make = |name: &str| {
        let key = w.kms.create_key(&root(), None, name).unwrap();
        w.kvs
            .create_stream(
                &root(),
                &CreateStreamInput::new(name)
                    .with_kms_key_id(&key.arn)
                    .with_retention_hours(1),
            )
            .unwrap();
        key.arn
    };
    let disabled = make("disabled");
    w.kms.disable_key(&root(), &disabled).unwrap();
    let pending = make("pending");
    w.kms.schedule_key_deletion(&root(), &pending, 7).unwrap();
    let denied = make("denied");
    w.kms
        .put_key_policy(
            &root(),
            &denied,
            &serde_json::json!({"Statement": [{"Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:GenerateDataKey",
                 "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "*:role/producer"}}}]})
            .to_string(),
        )
        .unwrap();
    let throttled = make("throttled");
    for (name, id) in [("disabled", 4501), ("pending", 4505), ("denied", 4500)] {
        let (s, acks) = put(
            &w.kvs,
            &producer,
            &PutMediaInput::absolute(by_name(name)),
            SAMPLE,
        );
        assert_eq!(s.failure.as_ref().unwrap().error_id.id(), id, "{name}");
        assert_eq!(acks.last().unwrap().error_id, Some(id), "{name}");
        assert_eq!(
            s.persisted, 0,
            "{name}: a failed fragment is never persisted"
        );
        let arn = w
            .kvs
            .describe_stream(&root(), &by_name(name))
            .unwrap()
            .stream_arn;
        assert!(w.store.fragments(&arn).unwrap().is_empty(), "{name}");
    }
    w.kms
        .set_quota(Some(fragseal::kms::local::QuotaConfig {
            requests_per_second: 0.001,
            burst: 1,
        }))
        .unwrap();
    // Use up the one token, then PutMedia is throttled: 4503 (the engine does not retry here).
    let _ = fragseal::kms::Kms::generate_data_key(
        &*w.kms,
        &root(),
        &throttled,
        fragseal::kms::DataKeySpec::Aes256,
        &fragseal::EncryptionContext::new(),
    );
    let (s, _) = put(
        &w.kvs,
        &producer,
        &PutMediaInput::absolute(by_name("throttled")),
        SAMPLE,
    );
    assert_eq!(s.failure.unwrap().error_id.id(), 4503);
}

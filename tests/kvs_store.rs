//! The stores: the same cases on the memory and the directory store, the directory store's
//! refusals (foreign, corrupt: never overwritten), retention by age, and a crash: a process
//! killed during PutMedia loses nothing it acknowledged PERSISTED.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::kvs::get_media::StartSelector;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::store::{fragment_number, StoreError};
use fragseal::kvs::{
    AckEventType, CreateStreamInput, DirStore, FragmentMeta, MemoryStore, Store, StoredFragment,
    StreamRef,
};
use kvs_support::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn info(arn: &str) -> fragseal::kvs::StreamInfo {
    fragseal::kvs::StreamInfo {
        device_name: None,
        stream_name: "s".into(),
        stream_arn: arn.into(),
        media_type: None,
        kms_key_id: "alias/aws/kinesisvideo".into(),
        version: "v1".into(),
        status: fragseal::kvs::stream::StreamStatus::Active,
        creation_time: 1,
        data_retention_in_hours: 1,
    }
}

fn frag(seq: u64, server_ms: u64) -> StoredFragment {
    StoredFragment {
        meta: FragmentMeta {
            fragment_number: fragment_number(seq),
            sequence: seq,
            producer_timestamp_ms: seq,
            server_timestamp_ms: server_ms,
            size: 3,
            duration_ms: 0,
            track: 1,
        },
        sealed: vec![seq as u8; 10].into(),
    }
}

const ARN: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/s/0000000000001";

fn store_contract(store: &dyn Store) {
    assert!(matches!(
        store.put_fragment(ARN, frag(1, 10)),
        Err(StoreError::NoSuchStream { .. })
    ));
    store.put_stream(&info(ARN)).unwrap();
    assert_eq!(store.streams().unwrap(), vec![info(ARN)]);
    for (seq, t) in [(3, 30), (1, 10), (2, 20)] {
        store.put_fragment(ARN, frag(seq, t)).unwrap();
    }
    let seqs: Vec<u64> = store
        .fragments(ARN)
        .unwrap()
        .iter()
        .map(|m| m.sequence)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    // Never overwritten.
    let mut other = frag(2, 20);
    other.sealed = vec![0xEE; 4].into();
    assert!(matches!(
        store.put_fragment(ARN, other),
        Err(StoreError::FragmentExists { .. })
    ));
    assert_eq!(
        store.fragment(ARN, &fragment_number(2)).unwrap().unwrap(),
        frag(2, 20)
    );
    assert_eq!(store.fragment(ARN, &fragment_number(9)).unwrap(), None);
    // Retention by age: strictly older than the bound goes.
    assert_eq!(store.expire(ARN, 20).unwrap(), 1);
    let seqs: Vec<u64> = store
        .fragments(ARN)
        .unwrap()
        .iter()
        .map(|m| m.sequence)
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    store.delete_stream(ARN).unwrap();
    assert!(store.streams().unwrap().is_empty());
    assert!(store.fragments(ARN).unwrap().is_empty());
}

#[test]
fn memory_store_keeps_fragments_in_order_never_overwrites_and_expires_by_age() {
    store_contract(&MemoryStore::new());
}

#[test]
fn dir_store_keeps_fragments_in_order_never_overwrites_and_expires_by_age() {
    let dir = tempfile::tempdir().unwrap();
    store_contract(&DirStore::open(dir.path().join("s")).unwrap());
}

#[test]
fn a_foreign_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    let e = DirStore::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
    assert!(e.to_string().contains("not a fragseal KVS store"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A marker with other contents too.
    let d2 = tempfile::tempdir().unwrap();
    std::fs::write(d2.path().join("FRAGSEAL-KVS-STORE"), b"something else").unwrap();
    assert!(matches!(
        DirStore::open(d2.path()),
        Err(StoreError::Foreign { .. })
    ));
}

fn stream_dir(root: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(root.join("streams"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

#[test]
fn a_corrupt_fragment_file_gives_a_clear_error_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).unwrap();
    store.put_stream(&info(ARN)).unwrap();
    store.put_fragment(ARN, frag(1, 10)).unwrap();
    let path = stream_dir(dir.path()).join(format!("{}.frag", fragment_number(1)));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&path, &bytes).unwrap();
    let e = store.fragments(ARN).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("corrupt store file"), "{e}");
    assert!(matches!(
        store.put_fragment(ARN, frag(1, 10)),
        Err(StoreError::FragmentExists { .. })
    ));
    assert!(store.expire(ARN, u64::MAX).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
    // An unexpected file in a stream directory is foreign.
    std::fs::write(stream_dir(dir.path()).join("x.bin"), b"?").unwrap();
    assert!(matches!(
        store.fragments(ARN),
        Err(StoreError::Foreign { .. })
    ));
}

#[test]
fn a_corrupt_stream_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DirStore::open(dir.path()).unwrap();
        store.put_stream(&info(ARN)).unwrap();
    }
    let path = stream_dir(dir.path()).join("stream.json");
    std::fs::write(&path, b"{\"StreamName\":").unwrap();
    let e = DirStore::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"StreamName\":");
}

#[test]
fn fragments_older_than_the_retention_are_removed() {
    let w = world();
    let arn = w
        .kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(1),
        )
        .unwrap();
    let cam = StreamRef::Name("cam".into());
    put(
        &w.kvs,
        &root(),
        &PutMediaInput::absolute(cam.clone()),
        SAMPLE,
    );
    w.clock.advance(Duration::from_secs(1800));
    put(
        &w.kvs,
        &root(),
        &PutMediaInput::absolute(cam.clone()),
        SAMPLE,
    );
    assert_eq!(w.store.fragments(&arn).unwrap().len(), 10);
    w.clock.advance(Duration::from_secs(1801));
    let mut out = Vec::new();
    let s = w
        .kvs
        .get_media(&root(), &cam, &StartSelector::Earliest, &mut out)
        .unwrap();
    assert_eq!(
        s.fragments, 5,
        "the first session's fragments are older than an hour"
    );
    assert_eq!(w.store.fragments(&arn).unwrap().len(), 5);
}

const CHILD_ENV: &str = "FRAGSEAL_KVS_CRASH_CHILD_DIR";

/// The child: PutMedia of a long live stream into a directory store, printing each
/// acknowledgement as it comes; the parent kills it.
#[test]
fn crash_child_put_media() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(DirStore::open(&dir).unwrap());
    let w = world_with(REGION, ACCOUNT, start_time(), store);
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(1),
        )
        .unwrap();
    let live = LiveReader::new(usize::MAX, 0, 1000);
    let stdout = std::io::stdout();
    w.kvs
        .put_media(
            &root(),
            &PutMediaInput::absolute(StreamRef::Name("cam".into())),
            live,
            |a| {
                use std::io::Write;
                let mut o = stdout.lock();
                writeln!(o, "{}", a.to_json())?;
                o.flush()
            },
        )
        .unwrap();
}

#[test]
fn nothing_acknowledged_persisted_is_lost_when_the_process_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let root_dir = dir.path().join("store");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_put_media",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &root_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut persisted = Vec::new();
    while persisted.len() < 40 {
        let line = lines.next().expect("the child ended early").unwrap();
        let Ok(ack) = serde_json::from_str::<fragseal::kvs::Ack>(&line) else {
            continue;
        };
        if ack.event_type == AckEventType::Persisted {
            persisted.push(ack.fragment_number.unwrap());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Read what the child wrote before it died, to check those acknowledgements too.
    for line in lines.map_while(Result::ok) {
        if let Ok(ack) = serde_json::from_str::<fragseal::kvs::Ack>(&line) {
            if ack.event_type == AckEventType::Persisted {
                persisted.push(ack.fragment_number.unwrap());
            }
        }
    }
    let store = DirStore::open(&root_dir).unwrap();
    let streams = store.streams().unwrap();
    assert_eq!(streams.len(), 1);
    let stored: Vec<String> = store
        .fragments(&streams[0].stream_arn)
        .unwrap()
        .into_iter()
        .map(|m| m.fragment_number)
        .collect();
    for n in &persisted {
        assert!(
            stored.contains(n),
            "fragment {n} was acknowledged PERSISTED and is lost"
        );
    }
    // Every stored fragment is whole: each one parses and has its full sealed message.
    for n in &stored {
        let f = store.fragment(&streams[0].stream_arn, n).unwrap().unwrap();
        assert!(f.sealed.len() > 100);
    }
}

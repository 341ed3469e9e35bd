//! What is stored: only sealed bytes, bound to their fragment number.

use super::*;

#[test]
fn only_sealed_bytes_are_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DirStore::open(dir.path().join("kvs")).unwrap());
    let w = world_with(REGION, ACCOUNT, start_time(), store);
    stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let p = parts();
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    assert!(files.len() > SAMPLE_CLUSTERS);
    // Any 32-byte window of the media (header or frames) would betray plaintext.
    let mut probes: Vec<&[u8]> = vec![&p.head[..32]];
    for c in &p.clusters {
        for at in (0..c.len() - 32).step_by(c.len() / 7) {
            probes.push(&c[at..at + 32]);
        }
    }
    for f in &files {
        for probe in &probes {
            assert!(!contains(f, probe), "plaintext found at rest");
        }
    }
}

#[test]
fn a_stored_fragment_moved_to_another_number_does_not_open() {
    let w = world();
    let arn = stream(&w);
    put(&w.kvs, &root(), &PutMediaInput::absolute(cam()), SAMPLE);
    let metas = w.store.fragments(&arn).unwrap();
    let first = w
        .store
        .fragment(&arn, &metas[0].fragment_number)
        .unwrap()
        .unwrap();
    // Swap in fragment 0's sealed bytes under a new number (as a tampered store would).
    let mut moved = first.clone();
    moved.meta.sequence = metas[4].sequence + 1;
    moved.meta.fragment_number = fragseal::kvs::store::fragment_number(moved.meta.sequence);
    w.store.put_fragment(&arn, moved).unwrap();
    let (s, out) = get(&w, StartSelector::Earliest);
    assert_eq!(s.fragments, 5);
    assert_eq!(s.failure.unwrap().error_id.id(), 5000);
    assert_eq!(tag_map(&out)[TAG_ERROR_ID], "5000");
}

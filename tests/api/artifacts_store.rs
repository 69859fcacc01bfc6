//! The artifact store's own methods (issue 26), on the store the suite runs on: the
//! directory, or the S3 bucket `DEVREG_TEST_ARTIFACTS` names (a prefix of its own). An
//! upload stored by digest reads back, and reclaiming with nothing in use removes it and
//! counts its bytes, so a deleted version's files do not stay in the bucket.

use std::collections::HashSet;
use std::io::Read;

use devreg::artifacts::Artifacts;
use sha2::{Digest, Sha256};

use crate::helpers::test_artifacts;

#[test]
fn artifacts_store_keeps_a_checked_upload_by_digest_and_reclaim_removes_it_when_unused() {
    let dir = tempfile::tempdir().unwrap();
    let location = test_artifacts().map(std::path::PathBuf::from);
    let db = dir.path().join("devreg.db");
    let store = Artifacts::open_location(location.as_deref(), db.to_str().unwrap()).unwrap();
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let mut writer = store.open_upload("upl_store_test", 0).unwrap();
    writer.write(&bytes[..1_000_000]).unwrap();
    writer.close().unwrap();
    let mut writer = store.open_upload("upl_store_test", 1_000_000).unwrap();
    writer.write(&bytes[1_000_000..]).unwrap();
    writer.close().unwrap();
    let received = store.digest_upload("upl_store_test").unwrap();
    assert_eq!(
        (received.size, received.sha256.as_str()),
        (3_000_000, digest.as_str())
    );
    store.store_upload("upl_store_test", &digest).unwrap();

    let mut read = Vec::new();
    store
        .reader(&digest, 3_000_000)
        .unwrap()
        .read_to_end(&mut read)
        .unwrap();
    assert!(read == bytes, "the stored file reads back as uploaded");
    assert_eq!(store.stored_size(&digest).unwrap(), Some(3_000_000));
    assert_eq!(
        store.received("upl_store_test"),
        0,
        "the partial file is gone"
    );

    let in_use = HashSet::from([digest.clone()]);
    assert_eq!(
        store.reclaim(&in_use, &HashSet::new()),
        0,
        "a file in use stays"
    );
    assert_eq!(store.stored_size(&digest).unwrap(), Some(3_000_000));

    let freed = store.reclaim(&HashSet::new(), &HashSet::new());

    assert_eq!(freed, 3_000_000);
    assert_eq!(store.stored_size(&digest).unwrap(), None);
    assert!(store.reader(&digest, 3_000_000).is_err());
}

//! The in-memory store.

use super::{FragmentMeta, Store, StoreError, StoredFragment};
use crate::kvs::stream::StreamInfo;
use std::collections::BTreeMap;
use std::sync::RwLock;

#[derive(Debug, Default)]
struct Stream {
    info: Option<StreamInfo>,
    fragments: BTreeMap<String, StoredFragment>,
}

/// Streams and sealed fragments in process memory (lost when the process ends).
#[derive(Debug, Default)]
pub struct MemoryStore {
    streams: RwLock<BTreeMap<String, Stream>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every sealed byte held, stream by stream (for tests that search the store).
    ///
    /// # Errors
    /// [`StoreError::Poisoned`].
    pub fn sealed_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let s = self.streams.read().map_err(|_| StoreError::Poisoned)?;
        Ok(s.values()
            .flat_map(|st| st.fragments.values().map(|f| f.sealed.to_vec()))
            .collect())
    }
}

impl Store for MemoryStore {
    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let s = self.streams.read().map_err(|_| StoreError::Poisoned)?;
        Ok(s.values().filter_map(|st| st.info.clone()).collect())
    }

    fn put_stream(&self, info: &StreamInfo) -> Result<(), StoreError> {
        let mut s = self.streams.write().map_err(|_| StoreError::Poisoned)?;
        s.entry(info.stream_arn.clone()).or_default().info = Some(info.clone());
        Ok(())
    }

    fn delete_stream(&self, stream_arn: &str) -> Result<(), StoreError> {
        let mut s = self.streams.write().map_err(|_| StoreError::Poisoned)?;
        s.remove(stream_arn)
            .map(|_| ())
            .ok_or_else(|| StoreError::NoSuchStream {
                stream_arn: stream_arn.to_owned(),
            })
    }

    fn put_fragment(&self, stream_arn: &str, fragment: StoredFragment) -> Result<(), StoreError> {
        let mut s = self.streams.write().map_err(|_| StoreError::Poisoned)?;
        let st = s
            .get_mut(stream_arn)
            .filter(|st| st.info.is_some())
            .ok_or_else(|| StoreError::NoSuchStream {
                stream_arn: stream_arn.to_owned(),
            })?;
        let n = &fragment.meta.fragment_number;
        if st.fragments.contains_key(n) {
            return Err(StoreError::FragmentExists {
                stream_arn: stream_arn.to_owned(),
                fragment_number: n.clone(),
            });
        }
        st.fragments.insert(n.clone(), fragment);
        Ok(())
    }

    fn fragments(&self, stream_arn: &str) -> Result<Vec<FragmentMeta>, StoreError> {
        let s = self.streams.read().map_err(|_| StoreError::Poisoned)?;
        Ok(s.get(stream_arn)
            .map(|st| st.fragments.values().map(|f| f.meta.clone()).collect())
            .unwrap_or_default())
    }

    fn fragment(
        &self,
        stream_arn: &str,
        fragment_number: &str,
    ) -> Result<Option<StoredFragment>, StoreError> {
        let s = self.streams.read().map_err(|_| StoreError::Poisoned)?;
        Ok(s.get(stream_arn)
            .and_then(|st| st.fragments.get(fragment_number).cloned()))
    }

    fn expire(&self, stream_arn: &str, before_ms: u64) -> Result<usize, StoreError> {
        let mut s = self.streams.write().map_err(|_| StoreError::Poisoned)?;
        let Some(st) = s.get_mut(stream_arn) else {
            return Ok(0);
        };
        let before = st.fragments.len();
        st.fragments
            .retain(|_, f| f.meta.server_timestamp_ms >= before_ms);
        Ok(before - st.fragments.len())
    }
}

//! The engine's pool of batch output buffers: [`Engine::seal_batch`](super::Engine::seal_batch)
//! and [`Engine::open_batch`](super::Engine::open_batch) write each result into a buffer taken
//! from here and hand it out as a [`Bytes`] whose owner gives the buffer back when the caller
//! drops the last clone. A batch after the first then writes into memory that is already mapped
//! and faulted in, instead of fresh pages (see docs/PERFORMANCE.md for what glibc's allocator
//! does with fresh 1 MiB buffers between batches).
//!
//! - Bounded: the idle buffers held never exceed [`BufferPoolLimits::max_bytes`] (capacity) and
//!   [`BufferPoolLimits::max_buffers`]; a buffer that does not fit is freed. Buffers in use
//!   belong to their results, not to the pool.
//! - Plaintext is wiped before its buffer is reused: the owner of an opened plaintext zeroizes
//!   it (with `zeroize`'s optimization barrier) when it is dropped, whether the buffer then
//!   returns to the pool or is freed, so plaintext never lingers in idle buffers and no later
//!   result, sealed or opened, can be handed memory that held another fragment's plaintext.
//!   Sealed outputs are ciphertext and are not wiped.
//! - The pool only holds idle memory: results keep working after the engine is dropped (the
//!   owner holds a weak reference), and a poisoned lock turns the pool off instead of failing.

use bytes::Bytes;
use std::sync::{Arc, Mutex, Weak};

/// Bounds of the engine's pool of idle batch output buffers (see
/// [`EngineConfig::buffer_pool`](super::EngineConfig::buffer_pool)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferPoolLimits {
    /// Total capacity of the idle buffers kept, in bytes (default 128 MiB; 0 turns the pool
    /// off).
    pub max_bytes: usize,
    /// Number of idle buffers kept (default 256; 0 turns the pool off).
    pub max_buffers: usize,
}

impl Default for BufferPoolLimits {
    fn default() -> Self {
        Self {
            max_bytes: 128 << 20,
            max_buffers: 256,
        }
    }
}

impl BufferPoolLimits {
    /// No pool: every batch result is a fresh allocation, freed when dropped.
    pub const OFF: Self = Self {
        max_bytes: 0,
        max_buffers: 0,
    };

    /// Sets [`Self::max_bytes`].
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`Self::max_buffers`].
    pub fn with_max_buffers(mut self, max_buffers: usize) -> Self {
        self.max_buffers = max_buffers;
        self
    }
}

/// What the engine's buffer pool holds idle (see
/// [`Engine::idle_batch_buffers`](super::Engine::idle_batch_buffers)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdleBuffers {
    /// Idle buffers held.
    pub buffers: usize,
    /// Their total capacity in bytes.
    pub bytes: usize,
}

/// Fresh buffers get this much room beyond the request, so that a buffer that held a sealed
/// message can take the plaintext of a similar one and the other way round.
const SLACK: usize = 16 << 10;

/// What a buffer held, which decides whether it is wiped on release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// A sealed message (ciphertext): returned as is.
    Sealed,
    /// Plaintext: zeroized before it returns to the pool or is freed.
    Plaintext,
}

#[derive(Debug, Default)]
struct Idle {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

#[derive(Debug)]
struct Inner {
    limits: BufferPoolLimits,
    idle: Mutex<Idle>,
}

/// A bounded pool of byte buffers; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct BufferPool {
    inner: Arc<Inner>,
}

/// Zeroizes the bytes a buffer holds (`zeroize`'s fill and optimization barrier); its length
/// stays, so that the pool's tests can see the zeros. The spare capacity beyond the length never
/// held plaintext: every buffer that held plaintext was wiped up to its length when it was
/// released, and an open that fails zeroizes what it appended before it truncates.
fn wipe(buf: &mut [u8]) {
    zeroize::zeroize_bytes(buf);
}

impl Inner {
    /// Takes the smallest idle buffer of capacity ≥ `need` that is not more than twice too
    /// big; none → a fresh one.
    fn take(&self, need: usize) -> Vec<u8> {
        if let Ok(mut idle) = self.idle.lock() {
            let fits =
                |cap: usize| cap >= need && cap <= need.saturating_mul(2).saturating_add(SLACK);
            let best = idle
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, b)| fits(b.capacity()))
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                let mut buf = idle.buffers.swap_remove(i);
                idle.bytes = idle.bytes.saturating_sub(buf.capacity());
                buf.clear();
                return buf;
            }
        }
        Vec::with_capacity(need.saturating_add(SLACK))
    }

    /// Keeps `buf` (already wiped if it held plaintext) if it fits the limits; else frees it.
    fn give(&self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == 0 {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let fits_bytes = idle
                .bytes
                .checked_add(cap)
                .is_some_and(|total| total <= self.limits.max_bytes);
            if fits_bytes && idle.buffers.len() < self.limits.max_buffers {
                idle.bytes += cap;
                idle.buffers.push(buf);
            }
        }
    }
}

impl BufferPool {
    /// An empty pool with `limits`.
    pub(crate) fn new(limits: BufferPoolLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                idle: Mutex::new(Idle::default()),
            }),
        }
    }

    /// An empty buffer of capacity at least `need`: an idle one of a similar size, or fresh.
    pub(crate) fn take(&self, need: usize) -> Vec<u8> {
        self.inner.take(need)
    }

    /// Gives back a buffer that did not become a result (a failed seal or open); wiped first
    /// when it may have held plaintext.
    pub(crate) fn give(&self, mut buf: Vec<u8>, contents: Contents) {
        if contents == Contents::Plaintext {
            wipe(&mut buf);
        }
        self.inner.give(buf);
    }

    /// `buf` as a result: a [`Bytes`] that returns the buffer here when its last clone drops.
    pub(crate) fn wrap(&self, buf: Vec<u8>, contents: Contents) -> Bytes {
        if self.inner.limits.max_buffers == 0 || self.inner.limits.max_bytes == 0 {
            return match contents {
                Contents::Sealed => Bytes::from(buf),
                // Not pooled, but wiped on drop all the same.
                Contents::Plaintext => Bytes::from_owner(Pooled {
                    buf,
                    contents,
                    pool: Weak::new(),
                }),
            };
        }
        Bytes::from_owner(Pooled {
            buf,
            contents,
            pool: Arc::downgrade(&self.inner),
        })
    }

    /// The idle buffers held and their total capacity.
    pub(crate) fn idle(&self) -> IdleBuffers {
        self.inner
            .idle
            .lock()
            .map(|i| IdleBuffers {
                buffers: i.buffers.len(),
                bytes: i.bytes,
            })
            .unwrap_or_default()
    }

    /// Copies of the idle buffers' contents (tests: wiped plaintext reads as zeros).
    #[cfg(test)]
    fn idle_contents(&self) -> Vec<Vec<u8>> {
        self.inner
            .idle
            .lock()
            .map(|i| i.buffers.clone())
            .unwrap_or_default()
    }
}

/// The owner behind a pooled result's [`Bytes`].
struct Pooled {
    buf: Vec<u8>,
    contents: Contents,
    pool: Weak<Inner>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = core::mem::take(&mut self.buf);
        if self.contents == Contents::Plaintext {
            wipe(&mut buf);
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.give(buf);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_result_is_reused_and_plaintext_is_wiped_first() {
        let pool = BufferPool::new(BufferPoolLimits::default());
        let mut buf = pool.take(1000);
        let cap = buf.capacity();
        let addr = buf.as_ptr() as usize;
        buf.extend_from_slice(&[0xAB; 1000]);
        let bytes = pool.wrap(buf, Contents::Plaintext);
        assert_eq!(
            pool.idle(),
            IdleBuffers {
                buffers: 0,
                bytes: 0
            }
        );
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(
            pool.idle(),
            IdleBuffers {
                buffers: 0,
                bytes: 0
            },
            "a clone still holds the buffer"
        );
        assert_eq!(&clone[..], &[0xAB; 1000][..]);
        drop(clone);
        assert_eq!(
            pool.idle(),
            IdleBuffers {
                buffers: 1,
                bytes: cap
            }
        );
        let idle = pool.idle_contents();
        assert_eq!(idle.len(), 1);
        assert!(idle
            .iter()
            .all(|b| b.len() == 1000 && b.iter().all(|&x| x == 0)));
        let again = pool.take(900);
        assert_eq!(again.as_ptr() as usize, addr, "the same buffer is reused");
        assert!(again.is_empty());
        assert_eq!(
            pool.idle(),
            IdleBuffers {
                buffers: 0,
                bytes: 0
            }
        );
    }

    #[test]
    fn sealed_buffers_are_not_wiped_and_failed_plaintext_is() {
        let pool = BufferPool::new(BufferPoolLimits::default());
        let mut sealed = pool.take(10);
        sealed.extend_from_slice(&[7; 10]);
        drop(pool.wrap(sealed, Contents::Sealed));
        assert_eq!(pool.idle_contents(), vec![vec![7; 10]]);
        let mut failed = pool.take(10);
        failed.extend_from_slice(&[9; 10]);
        pool.give(failed, Contents::Plaintext);
        assert_eq!(pool.idle_contents(), vec![vec![0; 10]]);
    }

    #[test]
    fn limits_bound_what_is_kept() {
        let pool = BufferPool::new(BufferPoolLimits::default().with_max_buffers(2));
        let results: Vec<Bytes> = (0..3)
            .map(|_| pool.wrap(pool.take(100), Contents::Sealed))
            .collect();
        drop(results);
        assert_eq!(pool.idle().buffers, 2);

        let small = BufferPool::new(BufferPoolLimits::default().with_max_bytes(SLACK + 150));
        let a = small.wrap(small.take(100), Contents::Sealed);
        let b = small.wrap(small.take(100), Contents::Sealed);
        drop((a, b));
        assert_eq!(small.idle().buffers, 1, "the second would pass max_bytes");
        assert!(small.idle().bytes <= SLACK + 150);

        let off = BufferPool::new(BufferPoolLimits::OFF);
        drop(off.wrap(off.take(100), Contents::Plaintext));
        drop(off.wrap(off.take(100), Contents::Sealed));
        assert_eq!(off.idle(), IdleBuffers::default());
    }

    #[test]
    fn sizes_far_apart_do_not_share_buffers() {
        let pool = BufferPool::new(BufferPoolLimits::default());
        drop(pool.wrap(pool.take(1 << 20), Contents::Sealed));
        let small = pool.take(1000);
        assert!(
            small.capacity() < 1 << 20,
            "a 1 MiB buffer is not spent on 1 KB"
        );
        assert_eq!(pool.idle().buffers, 1);
    }

    #[test]
    fn results_outlive_the_pool() {
        let pool = BufferPool::new(BufferPoolLimits::default());
        let mut buf = pool.take(10);
        buf.extend_from_slice(b"0123456789");
        let bytes = pool.wrap(buf, Contents::Plaintext);
        drop(pool);
        assert_eq!(&bytes[..], b"0123456789");
    }
}

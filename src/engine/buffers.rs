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
//! - Plaintext is wiped before its memory is reused or freed, at one of two moments
//!   ([`PlaintextWipe`]):
//!   - [`PlaintextWipe::BeforeReuse`] (default): a released plaintext buffer returns to the
//!     pool as it is; its next result overwrites it, and whatever that result does not cover is
//!     zeroized as soon as the result is written (before anyone sees it). A buffer the pool
//!     frees (full pool, engine dropped, a result dropped after its engine) is zeroized first.
//!     Plaintext of dropped results stays in the idle buffers (at most
//!     [`BufferPoolLimits::max_bytes`]) until the next open or the engine's drop; an open does
//!     not pay for a second pass over memory that has left the cache (docs/PERFORMANCE.md).
//!   - [`PlaintextWipe::OnRelease`]: the owner of an opened plaintext zeroizes it (`zeroize`'s
//!     fill and optimization barrier) when its last clone is dropped, whether the buffer then
//!     returns to the pool or is freed, so plaintext never lingers in idle buffers. A batch of
//!     fragments larger than the cache then costs one more pass over memory.
//!
//!   Either way no result, sealed or opened, is handed memory that still holds another
//!   fragment's plaintext, and no buffer that held plaintext is freed unwiped. Sealed outputs
//!   are ciphertext and are not wiped.
//! - The pool only holds idle memory: results keep working after the engine is dropped (the
//!   owner holds a weak reference), and a poisoned lock turns the pool off instead of failing.

use bytes::Bytes;
use std::sync::{Arc, Mutex, Weak};

/// When the plaintext of a dropped [`Engine::open`](super::Engine::open) or
/// [`Engine::open_batch`](super::Engine::open_batch) result is wiped. Either way no result is
/// handed memory that still holds another fragment's plaintext, and no buffer that held
/// plaintext is freed unwiped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaintextWipe {
    /// Zeroized when the last clone of the result is dropped: idle buffers never hold
    /// plaintext.
    OnRelease,
    /// Overwritten by the buffer's next result, the rest zeroized as that result is written;
    /// zeroized before the pool frees the buffer (default). Idle buffers hold the plaintext of
    /// dropped results until then, within the pool's bounds.
    #[default]
    BeforeReuse,
}

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
    /// When opened plaintext is wiped (default [`PlaintextWipe::BeforeReuse`]).
    pub plaintext_wipe: PlaintextWipe,
}

impl Default for BufferPoolLimits {
    fn default() -> Self {
        Self {
            max_bytes: 128 << 20,
            max_buffers: 256,
            plaintext_wipe: PlaintextWipe::BeforeReuse,
        }
    }
}

impl BufferPoolLimits {
    /// No pool: every batch result is a fresh allocation, freed when dropped (opened
    /// plaintext is zeroized first).
    pub const OFF: Self = Self {
        max_bytes: 0,
        max_buffers: 0,
        plaintext_wipe: PlaintextWipe::OnRelease,
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

    /// Sets [`Self::plaintext_wipe`].
    pub fn with_plaintext_wipe(mut self, wipe: PlaintextWipe) -> Self {
        self.plaintext_wipe = wipe;
        self
    }

    fn is_off(&self) -> bool {
        self.max_buffers == 0 || self.max_bytes == 0
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

/// Fresh buffers get up to this much room beyond the request, so that a buffer that held a
/// sealed message can take the plaintext of a similar one and the other way round.
const SLACK: usize = 16 << 10;

/// The room a fresh buffer of `need` bytes gets: [`SLACK`], but at most 1/64 of the request, so
/// that results kept for long (a store of small sealed fragments) waste at most ~1.6 %.
fn slack(need: usize) -> usize {
    SLACK.min(need / 64)
}

/// What a buffer held, which decides whether it is wiped on release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// A sealed message (ciphertext): returned as is.
    Sealed,
    /// Plaintext: wiped per [`PlaintextWipe`].
    Plaintext,
}

/// An idle buffer. Its length covers the bytes that may still hold plaintext (all of them
/// under [`PlaintextWipe::BeforeReuse`], zeros under `OnRelease`, none for a sealed message),
/// so that they can be overwritten without `unsafe`.
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
/// holds plaintext: buffers keep the bytes that may hold it within their length while idle, a
/// taken buffer's stale bytes are zeroized when its result is written ([`Taken`]), and an open
/// that fails zeroizes what it appended before it truncates.
fn wipe(buf: &mut [u8]) {
    zeroize::zeroize_bytes(buf);
}

/// A buffer taken from the pool, empty, with the number of bytes at its start that may still
/// hold a dropped result's plaintext (in its spare capacity). Write the result into
/// [`Taken::buf`] without growing it past its capacity, then [`Taken::settle`]: the stale bytes
/// the result did not overwrite are zeroized. Dropping a `Taken` zeroizes them too.
pub(crate) struct Taken {
    /// The buffer to write the result into.
    pub(crate) buf: Vec<u8>,
    stale: usize,
}

impl Taken {
    fn new(buf: Vec<u8>, stale: usize) -> Self {
        Self { buf, stale }
    }

    /// The buffer, its stale bytes beyond the result's length zeroized.
    pub(crate) fn settle(mut self) -> Vec<u8> {
        self.wipe_stale();
        core::mem::take(&mut self.buf)
    }

    fn wipe_stale(&mut self) {
        let len = self.buf.len();
        // Callers size their writes to the capacity `take` gave them (the exact sealed length,
        // or the message length for a plaintext), so the buffer never moves and its stale
        // bytes are still here.
        debug_assert!(self.stale <= self.buf.capacity());
        if len < self.stale {
            self.buf.resize(self.stale, 0);
            if let Some(tail) = self.buf.get(len..) {
                zeroize::optimization_barrier(tail);
            }
            self.buf.truncate(len);
        }
        self.stale = 0;
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.wipe_stale();
    }
}

impl Inner {
    /// Takes the smallest idle buffer of capacity ≥ `need` that is not more than twice too
    /// big; none → a fresh one.
    fn take(&self, need: usize) -> Taken {
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
                drop(idle);
                let stale = match self.limits.plaintext_wipe {
                    PlaintextWipe::BeforeReuse => buf.len(),
                    // Idle buffers hold zeros or nothing.
                    PlaintextWipe::OnRelease => 0,
                };
                buf.clear();
                return Taken::new(buf, stale);
            }
        }
        Taken::new(Vec::with_capacity(need.saturating_add(slack(need))), 0)
    }

    /// Keeps `buf` (its length covering what may hold plaintext) if it fits the limits; else
    /// zeroizes and frees it.
    fn give(&self, mut buf: Vec<u8>) {
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
                return;
            }
        }
        if self.limits.plaintext_wipe == PlaintextWipe::BeforeReuse {
            wipe(&mut buf);
        }
    }
}

impl Drop for Inner {
    /// The engine (and every result's weak reference) is gone: no idle buffer is freed with
    /// plaintext in it.
    fn drop(&mut self) {
        let idle = match self.idle.get_mut() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.limits.plaintext_wipe == PlaintextWipe::BeforeReuse {
            for buf in &mut idle.buffers {
                wipe(buf);
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
    /// Write at most `need` bytes into it, then [`Taken::settle`] it.
    pub(crate) fn take(&self, need: usize) -> Taken {
        self.inner.take(need)
    }

    /// Gives back a buffer that did not become a result (a failed seal or open); what it may
    /// hold of plaintext is wiped now or kept within its length per [`PlaintextWipe`].
    pub(crate) fn give(&self, taken: Taken, contents: Contents) {
        let mut buf = taken.settle();
        self.release(&mut buf, contents);
        self.inner.give(buf);
    }

    /// Prepares a released buffer for the idle list: sealed bytes are forgotten, plaintext is
    /// zeroized or kept (within the length) for the next result to overwrite.
    fn release(&self, buf: &mut Vec<u8>, contents: Contents) {
        release(buf, contents, self.inner.limits.plaintext_wipe);
    }

    /// `taken` as a result: a [`Bytes`] that returns the buffer here when its last clone drops.
    pub(crate) fn wrap(&self, taken: Taken, contents: Contents) -> Bytes {
        let buf = taken.settle();
        if self.inner.limits.is_off() {
            return match contents {
                Contents::Sealed => Bytes::from(buf),
                // Not pooled, but wiped on drop all the same.
                Contents::Plaintext => Bytes::from_owner(Pooled {
                    buf,
                    contents,
                    wipe: PlaintextWipe::OnRelease,
                    pool: Weak::new(),
                }),
            };
        }
        Bytes::from_owner(Pooled {
            buf,
            contents,
            wipe: self.inner.limits.plaintext_wipe,
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

/// See [`BufferPool::release`].
fn release(buf: &mut Vec<u8>, contents: Contents, when: PlaintextWipe) {
    match (contents, when) {
        (Contents::Sealed, _) => buf.clear(),
        (Contents::Plaintext, PlaintextWipe::OnRelease) => wipe(buf),
        (Contents::Plaintext, PlaintextWipe::BeforeReuse) => {}
    }
}

/// The owner behind a pooled result's [`Bytes`].
struct Pooled {
    buf: Vec<u8>,
    contents: Contents,
    wipe: PlaintextWipe,
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
        match self.pool.upgrade() {
            Some(pool) => {
                release(&mut buf, self.contents, self.wipe);
                pool.give(buf);
            }
            None if self.contents == Contents::Plaintext => wipe(&mut buf),
            None => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    const EMPTY: IdleBuffers = IdleBuffers {
        buffers: 0,
        bytes: 0,
    };

    fn filled(pool: &BufferPool, need: usize, byte: u8, len: usize) -> Taken {
        let mut t = pool.take(need);
        t.buf.extend_from_slice(&vec![byte; len]);
        t
    }

    #[test]
    fn a_dropped_result_is_reused_and_plaintext_is_wiped_first() {
        let pool = BufferPool::new(
            BufferPoolLimits::default().with_plaintext_wipe(PlaintextWipe::OnRelease),
        );
        let taken = filled(&pool, 1000, 0xAB, 1000);
        let cap = taken.buf.capacity();
        let addr = taken.buf.as_ptr() as usize;
        let bytes = pool.wrap(taken, Contents::Plaintext);
        assert_eq!(pool.idle(), EMPTY);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(pool.idle(), EMPTY, "a clone still holds the buffer");
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
        assert_eq!(
            again.buf.as_ptr() as usize,
            addr,
            "the same buffer is reused"
        );
        assert!(again.buf.is_empty());
        assert_eq!(again.stale, 0, "nothing to overwrite: it was wiped");
        assert_eq!(pool.idle(), EMPTY);
    }

    #[test]
    fn sealed_buffers_are_not_wiped_and_failed_plaintext_is() {
        let pool = BufferPool::new(
            BufferPoolLimits::default().with_plaintext_wipe(PlaintextWipe::OnRelease),
        );
        drop(pool.wrap(filled(&pool, 10, 7, 10), Contents::Sealed));
        assert_eq!(pool.idle_contents(), vec![Vec::<u8>::new()]);
        let sealed_again = pool.take(10);
        assert_eq!(sealed_again.stale, 0, "ciphertext needs no wiping");
        pool.give(sealed_again, Contents::Sealed);
        pool.give(filled(&pool, 10, 9, 10), Contents::Plaintext);
        assert_eq!(pool.idle_contents(), vec![vec![0; 10]]);
    }

    #[test]
    fn before_reuse_plaintext_is_overwritten_by_the_next_result() {
        let limits = BufferPoolLimits::default().with_plaintext_wipe(PlaintextWipe::BeforeReuse);
        let pool = BufferPool::new(limits);
        let t = filled(&pool, 1000, 0xAB, 1000);
        let addr = t.buf.as_ptr() as usize;
        drop(pool.wrap(t, Contents::Plaintext));
        // Kept as is, within its length, for the next result to overwrite.
        assert_eq!(pool.idle_contents(), vec![vec![0xAB; 1000]]);
        let mut next = pool.take(900);
        assert_eq!(next.buf.as_ptr() as usize, addr);
        assert_eq!(next.stale, 1000);
        assert!(next.buf.is_empty(), "no stale byte is visible");
        next.buf.extend_from_slice(&[1; 600]);
        let shorter = pool.wrap(next, Contents::Sealed);
        assert_eq!(&shorter[..], &[1; 600][..]);
        drop(shorter);
        assert_eq!(pool.idle_contents(), vec![Vec::<u8>::new()]);
        // A failed result's plaintext is kept for overwriting too; a buffer given back unused
        // keeps its stale length.
        pool.give(filled(&pool, 900, 0xCD, 700), Contents::Plaintext);
        assert_eq!(pool.idle_contents(), vec![vec![0xCD; 700]]);
        let unused = pool.take(900);
        assert_eq!(unused.stale, 700);
        drop(unused);
        assert_eq!(pool.idle(), EMPTY, "a dropped Taken is freed, not kept");
    }

    #[test]
    fn before_reuse_buffers_the_pool_cannot_keep_are_wiped_and_freed() {
        let limits = BufferPoolLimits::default()
            .with_plaintext_wipe(PlaintextWipe::BeforeReuse)
            .with_max_buffers(1);
        let pool = BufferPool::new(limits);
        let a = pool.wrap(filled(&pool, 100, 1, 100), Contents::Plaintext);
        let b = pool.wrap(filled(&pool, 100, 2, 100), Contents::Plaintext);
        drop((a, b));
        assert_eq!(pool.idle().buffers, 1);
        // Results that outlive the pool wipe their plaintext when dropped.
        let late = pool.wrap(filled(&pool, 100, 3, 100), Contents::Plaintext);
        drop(pool);
        assert_eq!(&late[..], &[3; 100][..]);
    }

    #[test]
    fn limits_bound_what_is_kept() {
        let pool = BufferPool::new(BufferPoolLimits::default().with_max_buffers(2));
        let results: Vec<Bytes> = (0..3)
            .map(|_| pool.wrap(pool.take(100), Contents::Sealed))
            .collect();
        drop(results);
        assert_eq!(pool.idle().buffers, 2);

        let small = BufferPool::new(BufferPoolLimits::default().with_max_bytes(150));
        let a = small.wrap(small.take(100), Contents::Sealed);
        let b = small.wrap(small.take(100), Contents::Sealed);
        drop((a, b));
        assert_eq!(small.idle().buffers, 1, "the second would pass max_bytes");
        assert!(small.idle().bytes <= 150);

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
            small.buf.capacity() < 1 << 20,
            "a 1 MiB buffer is not spent on 1 KB"
        );
        assert_eq!(pool.idle().buffers, 1);
    }

    #[test]
    fn results_outlive_the_pool() {
        let pool = BufferPool::new(BufferPoolLimits::default());
        let mut t = pool.take(10);
        t.buf.extend_from_slice(b"0123456789");
        let bytes = pool.wrap(t, Contents::Plaintext);
        drop(pool);
        assert_eq!(&bytes[..], b"0123456789");
    }
}

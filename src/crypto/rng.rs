//! Hot-path randomness: message ids (and anything else public and per-message).
//!
//! Keys never come from here: data keys and wrapping keys come from the operating system
//! (`crate::crypto::keys`, `getrandom`).
//!
//! [`fill_random`] draws from a per-thread ChaCha12 generator (`rand`'s `StdRng`, a
//! cryptographically secure PRNG) seeded with 32 bytes from the operating system. Why this is
//! safe for message ids:
//! - ChaCha12 output is indistinguishable from random without the seed, so ids are unpredictable
//!   and collide only with the birthday probability of their length.
//! - Each thread has its own generator, seeded independently from the OS: threads never share
//!   a stream.
//! - **Fork**: a forked child inherits a copy of the parent's generator; without care, parent
//!   and child would produce the *same* next message id — the same derived key — and then the
//!   same IVs, which breaks AES-GCM. The generator therefore records the process id it was
//!   seeded in and reseeds from the OS whenever the current process id differs, before any
//!   output. (`rand`'s `ThreadRng` also reseeds after fork, but only "soon", after the bytes it
//!   has already buffered, which is not enough here.)
//! - It also reseeds from the OS after every [`RESEED_AFTER_BYTES`] bytes of output, which
//!   bounds how much output any single seed produces.
//! - If the thread-local generator is unavailable (during thread teardown), the bytes come
//!   straight from the OS.
//!
//! The generator state lets whoever reads this process's memory compute its past and future
//! outputs; that is acceptable because those outputs are public values (they are written in
//! the clear into every message), never keys.

use core::cell::RefCell;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// Bytes of output after which the per-thread generator is reseeded from the OS.
pub const RESEED_AFTER_BYTES: u64 = 1 << 20;

struct ThreadGen {
    rng: StdRng,
    pid: u32,
    remaining: u64,
}

impl ThreadGen {
    fn seeded(pid: u32) -> Self {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        crate::crypto::keys::fill_os_random(&mut seed[..]);
        Self {
            rng: StdRng::from_seed(*seed),
            pid,
            remaining: RESEED_AFTER_BYTES,
        }
    }
}

thread_local! {
    static GEN: RefCell<Option<ThreadGen>> = const { RefCell::new(None) };
}

/// Fills `buf` with cryptographically secure random bytes from a per-thread, fork-safe,
/// OS-seeded ChaCha12 generator (see the module documentation for why this is safe). For
/// per-message public values such as message ids; keys come from the OS instead.
pub fn fill_random(buf: &mut [u8]) {
    let pid = std::process::id();
    let len = buf.len() as u64;
    let done = GEN
        .try_with(|cell| {
            let Ok(mut slot) = cell.try_borrow_mut() else {
                return false;
            };
            let fresh = match slot.as_ref() {
                Some(g) => g.pid != pid || g.remaining < len,
                None => true,
            };
            if fresh {
                *slot = Some(ThreadGen::seeded(pid));
            }
            match slot.as_mut() {
                Some(g) => {
                    g.rng.fill_bytes(buf);
                    g.remaining = g.remaining.saturating_sub(len);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false);
    if !done {
        crate::crypto::keys::fill_os_random(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_differ_and_are_not_zero() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        fill_random(&mut a);
        fill_random(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
        fill_random(&mut []);
    }

    #[test]
    fn reseeds_on_budget_and_large_requests_work() {
        // Larger than the budget in one call, then many small calls across the boundary.
        let mut big = vec![0u8; (RESEED_AFTER_BYTES + 17) as usize];
        fill_random(&mut big);
        assert!(big.iter().any(|&x| x != 0));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let mut id = [0u8; 32];
            fill_random(&mut id);
            assert!(seen.insert(id), "repeated 32-byte output");
        }
    }

    #[test]
    fn threads_get_distinct_streams() {
        let outs: Vec<[u8; 32]> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut x = [0u8; 32];
                    fill_random(&mut x);
                    x
                })
            })
            .map(|h| h.join().expect("thread"))
            .collect();
        for i in 0..outs.len() {
            for j in i + 1..outs.len() {
                assert_ne!(outs[i], outs[j]);
            }
        }
    }
}

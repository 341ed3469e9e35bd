//! Randomness for per-message values: message ids, raw-AES wrapping IVs, KMS blob nonces.
//!
//! Every random byte fragseal uses comes from the operating system's generator (`getrandom`:
//! `getrandom(2)` on Linux). There is no userspace generator, so there is no generator state
//! to duplicate on `fork` and nothing to reseed: a forked child draws fresh bytes from the
//! kernel like any other process.
//!
//! A userspace ChaCha12 generator was used here until 0.2. It was dropped because it saved
//! less than the 10 % of a 16 KiB seal that would justify its fork-safety argument: in one
//! criterion run (`cargo bench --bench primitives -- --warm-up-time 1 --measurement-time 3
//! rng_seal_16k`) a 32-byte id cost 0.56 µs from it and 1.63 µs from `getrandom`, a
//! difference of 1.07 µs, about 5.7 % of the 18.9 µs it took to seal a 16 KiB fragment.
//!
//! Tests that need fixed values do not inject a generator: they use the vector-only entry
//! points that take the id or IV from the caller (`danger_*`, reachable with the `internal`
//! feature).

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// If the operating system's generator fails; no predictable bytes are ever returned instead.
pub fn fill_random(buf: &mut [u8]) {
    crate::crypto::keys::fill_os_random(buf);
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
    fn threads_get_distinct_outputs() {
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

//! The worker thread's read buffer. A relay reads into it for the length
//! of one poll and copies out only what its sink does not take at once, so
//! an idle session holds no buffer at all (see `direction`), and a UDP
//! peer's receive needs no buffer of its own.

use std::cell::RefCell;

thread_local! {
    /// This worker thread's read buffer, lent to one direction for the
    /// duration of one poll (never across an `.await`).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The largest datagram there is: a message peer's reads into the scratch
/// buffer need room for one whatever the relay's buffer size.
pub const MAX_DATAGRAM: usize = 65_536;

/// Runs `f` with this thread's scratch buffer, at least `len` bytes long
/// (and at least [`MAX_DATAGRAM`]). `f` must not wait: the buffer is
/// lent for one poll.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < len.max(MAX_DATAGRAM) {
            scratch.resize(len.max(MAX_DATAGRAM), 0);
        }
        f(&mut scratch[..])
    })
}

//! The few operating-system calls std does not offer, through rustix's safe
//! wrappers: the crate as a whole denies `unsafe` code.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use rustix::time::{ClockId, clock_gettime};

/// Holding many connections needs as many file descriptors: raises the soft
/// limit to the hard one if that is what `n` connections take (with a
/// margin for the process's own files), and warns when even that is short.
pub fn raise_fd_limit(n: usize) {
    let want = (n as u64).saturating_add(64);
    let lim = getrlimit(Resource::Nofile);
    // `None` is RLIM_INFINITY.
    let current = lim.current.unwrap_or(u64::MAX);
    if current >= want {
        return;
    }
    let raised = lim.maximum.map_or(want, |max| max.min(want));
    let new = Rlimit {
        current: Some(raised),
        maximum: lim.maximum,
    };
    let allowed = match setrlimit(Resource::Nofile, new) {
        Ok(()) => raised,
        Err(_) => current,
    };
    if allowed < want {
        tracing::warn!(
            "only {allowed} file descriptors allowed (ulimit -n): some of the {n} connections will fail"
        );
    }
}

/// User plus system CPU time of this process so far, in seconds.
pub fn process_cpu_secs() -> f64 {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_secs();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        assert!(process_cpu_secs() > before);
    }

    #[test]
    fn fd_limit_covers_a_small_request() {
        raise_fd_limit(16);
        let lim = getrlimit(Resource::Nofile);
        assert!(lim.current.unwrap_or(u64::MAX) >= 80);
    }
}

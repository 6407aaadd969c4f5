//! The line services allocate nothing per request: a session of `random`,
//! `daytime` and `counter`, opened the way the server opens one
//! ([`Mounted::open_session`]), answers 1,000 requests after a short warm-up
//! without a single heap allocation, its replies drained into one reused
//! buffer as the transports do.
//!
//! A counting global allocator wraps the system one; only allocations made
//! on a thread that has switched counting on are counted, and the tests take
//! turns, so the test harness's own threads do not disturb the count.
// The crate denies unsafe code; a counting GlobalAlloc is unsafe by
// definition.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use duplex::server::Mounted;
use duplex::service::{
    Counter, Daytime, DaytimeFormat, Flow, Random, RandomConfig, Service, Session, Stats,
    handle_request,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test counts at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Heap allocations made by this thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.set(true);
    f();
    COUNTING.set(false);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Requests per measured run.
const REQUESTS: usize = 1000;

/// Sends `request` and drains every reply into `out` (cleared before each
/// reply, as the transports do); returns how many replies came.
fn ask(session: &mut dyn Session, request: &[u8], out: &mut Vec<u8>) -> usize {
    assert_eq!(handle_request(session, request, true), Flow::Continue);
    let mut replies = 0;
    loop {
        out.clear();
        if !session.next_reply(out) {
            return replies;
        }
        assert!(!out.is_empty() && !out.starts_with(b"ERR"), "{out:?}");
        replies += 1;
    }
}

/// Opens a session of `service` like the server does, warms it up with a
/// few of `requests`, then asserts that 1,000 more allocate nothing.
fn assert_no_allocation_per_request(service: Service, greeting: bool, requests: &[&[u8]]) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mounted = Mounted::new(service);
    let name = mounted.name();
    let mut session = mounted
        .open_session(true)
        .expect("a line service has sessions");
    let mut out = Vec::new();
    if greeting {
        assert_eq!(session.open(), Flow::Continue);
        assert!(session.next_reply(&mut out), "{name}: a greeting");
        assert!(!session.next_reply(&mut out), "{name}: one greeting");
    }
    for _ in 0..10 {
        for r in requests {
            ask(session.as_mut(), r, &mut out);
        }
    }
    let mut replies = 0;
    let allocations = allocations_during(|| {
        for i in 0..REQUESTS {
            replies += ask(session.as_mut(), requests[i % requests.len()], &mut out);
        }
    });
    assert!(replies >= REQUESTS, "{name}: {replies} replies");
    assert_eq!(
        allocations, 0,
        "{name}: {allocations} heap allocations for {REQUESTS} requests ({requests:?})"
    );
}

#[test]
fn the_counting_allocator_sees_an_allocation() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = allocations_during(|| {
        let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
        drop(v);
    });
    assert_eq!(n, 1);
}

/// The measurement sees a service path that does allocate: a `random`
/// error reply is formatted into a new `String` (errors are off the hot
/// path), so a service that allocated per request would fail the tests.
#[test]
fn an_allocating_request_is_counted() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let random = Random::new(RandomConfig::default()).expect("default config");
    let mounted = Mounted::new(Service::Line(Arc::new(random)));
    let mut session = mounted.open_session(true).expect("a session");
    let mut out = Vec::with_capacity(256);
    let n = allocations_during(|| {
        for _ in 0..10 {
            handle_request(session.as_mut(), b"9 3", true);
            out.clear();
            assert!(session.next_reply(&mut out));
        }
    });
    assert!(out.starts_with(b"ERR LO 9 is greater than HI 3"), "{out:?}");
    assert!(n >= 10, "{n} allocations for 10 error replies");
}

#[test]
fn random_allocates_nothing_per_request() {
    let random = Random::new(RandomConfig::default()).expect("default config");
    assert_no_allocation_per_request(
        Service::Line(Arc::new(random)),
        false,
        &[b"", b"1 6", b"3", b"2 -5 5"],
    );
    let seeded = Random::new(RandomConfig {
        seed: Some(7),
        ..Default::default()
    })
    .expect("seeded config");
    assert_no_allocation_per_request(Service::Line(Arc::new(seeded)), false, &[b"", b"1 6"]);
    let choices = Random::new(RandomConfig {
        choices: vec!["heads".into(), "tails".into()],
        ..Default::default()
    })
    .expect("choices config");
    assert_no_allocation_per_request(Service::Line(Arc::new(choices)), false, &[b"", b"2"]);
}

#[test]
fn daytime_allocates_nothing_per_request() {
    for format in [
        DaytimeFormat::Rfc3339,
        DaytimeFormat::Rfc2822,
        DaytimeFormat::Unix,
        DaytimeFormat::UnixMs,
    ] {
        for utc in [false, true] {
            let daytime = Daytime::new(format, utc, false);
            assert_no_allocation_per_request(
                Service::Line(Arc::new(daytime)),
                true,
                &[b"", b"now", b"what time is it"],
            );
        }
    }
}

#[test]
fn counter_allocates_nothing_per_request() {
    let stats = Stats::new();
    stats.client_connected();
    assert_no_allocation_per_request(
        Service::Line(Arc::new(Counter::new(stats))),
        false,
        &[b"", b"count", b"1"],
    );
}

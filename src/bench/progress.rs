//! The live progress line on stderr (terminals only).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::control::{Ctl, Times};

/// Draws the progress line every 250 ms until `finished` fires.
pub fn spawn(ctl: Ctl, times: Times, mut finished: oneshot::Receiver<()>) -> JoinHandle<()> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let by_count = ctl.load.messages;
    let total = ctl.load.warmup + ctl.load.duration;
    let length = by_count.unwrap_or(total.as_millis() as u64);
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    tokio::spawn(async move {
        let Some(p) = &ctl.progress else { return };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let (mut prev, mut prev_t) = (0u64, Instant::now());
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut finished => break,
            }
            let now = Instant::now();
            let messages = p.messages.load(Ordering::Relaxed);
            let errors = p.errors.load(Ordering::Relaxed);
            let connects = p.connects.load(Ordering::Relaxed);
            let secs = now.duration_since(prev_t).as_secs_f64().max(1e-9);
            let rate = messages.saturating_sub(prev) as f64 / secs;
            (prev, prev_t) = (messages, now);
            let phase = if now < times.measure_from {
                "warm-up "
            } else {
                ""
            };
            let mut msg = format!("{phase}{messages} messages  {rate:.0}/s  errors {errors}");
            if connects > 0 {
                msg.push_str(&format!("  connections {connects}"));
            }
            bar.set_message(msg);
            match by_count {
                Some(_) => bar.set_position(messages),
                None => bar.set_position(now.duration_since(times.start).as_millis() as u64),
            }
        }
        bar.finish_and_clear();
    })
}

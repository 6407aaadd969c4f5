//! `--plot FILE.svg`: the latency distribution as a percentile curve, drawn
//! as a small self-contained SVG the way HdrHistogram plots it: the x axis
//! is the percentile on a log scale of 1 / (1 − p) (0, 90, 99, 99.9, …), so
//! the tail gets as much room as the median; the y axis is latency in µs.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Points along the curve.
const STEPS: usize = 400;

/// Curve colours, in order.
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// The SVG document for one or more named latency histograms
/// (nanoseconds), one curve each with a legend; empty or missing
/// histograms give the axes and a note instead of a curve.
pub fn svg(curves: &[(&str, &Option<Histogram<u64>>)], title: &str) -> String {
    let curves: Vec<(&str, &Histogram<u64>)> = curves
        .iter()
        .filter_map(|(name, h)| h.as_ref().filter(|h| !h.is_empty()).map(|h| (*name, h)))
        .collect();
    // Decades of the x axis: as many nines as the sample count supports
    // (at least 90%, at most 99.9999%).
    let most = curves.iter().map(|(_, h)| h.len()).max();
    let decades = most
        .map(|n| (n as f64).log10().ceil().clamp(1.0, 6.0) as usize)
        .unwrap_or(4);
    let lines: Vec<(&str, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|(name, h)| {
            let mut pts: Vec<(f64, f64)> = (0..=STEPS)
                .map(|i| {
                    let x = decades as f64 * i as f64 / STEPS as f64;
                    let p = 1.0 - 10f64.powf(-x);
                    (x, h.value_at_quantile(p) as f64 / 1000.0)
                })
                .collect();
            // The curve ends at the slowest message.
            pts.push((decades as f64, h.max() as f64 / 1000.0));
            (*name, pts)
        })
        .collect();
    let top_us = nice_ceiling(
        lines
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + x / decades as f64 * plot_w;
    let sy = |y: f64| TOP + plot_h - y / top_us * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );

    // Horizontal gridlines and latency labels.
    for i in 0..=5 {
        let v = top_us * i as f64 / 5.0;
        let y = sy(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            number(v)
        );
    }
    // Vertical gridlines at 0, 90, 99, 99.9, … percent.
    for d in 0..=decades {
        let x = sx(d as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + plot_h
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 18.0,
            percentile_label(d)
        );
    }
    // Axes and their titles.
    let _ = writeln!(
        s,
        r#"<path d="M{LEFT},{TOP} V{:.1} H{:.1}" fill="none" stroke="black"/>"#,
        TOP + plot_h,
        LEFT + plot_w
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency (µs)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );

    if lines.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no measured messages</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    for (i, (name, points)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut d = String::new();
        for (j, (x, y)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { " L" },
                sx(*x),
                sy(*y)
            );
        }
        let _ = writeln!(
            s,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        // The legend, top left inside the plot (the curves rise to the right).
        let y = TOP + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 34.0,
            LEFT + 40.0,
            y + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (and above zero).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * mag)
}

/// `0%`, `90%`, `99%`, `99.9%`, … for decade `d` of the x axis.
fn percentile_label(d: usize) -> String {
    match d {
        0 => "0%".into(),
        1 => "90%".into(),
        _ => format!("99.{}%", "9".repeat(d - 2)).replace("99.%", "99%"),
    }
}

/// A tick value without needless decimals.
fn number(v: f64) -> String {
    if v >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ceilings() {
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(4), "99.99%");
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
    }

    #[test]
    fn a_histogram_draws_a_curve_and_an_empty_one_does_not() {
        let mut h = None;
        for us in 1..=10_000u64 {
            super::super::histogram::record_n(&mut h, us * 1000, 1);
        }
        let s = svg(&[("rtt", &h), ("connect", &None)], "a <title> & more");
        assert!(s.starts_with("<svg"));
        assert!(s.contains(r#"<path d="M"#));
        assert!(s.contains("99.99%"));
        assert!(s.contains("&lt;title&gt; &amp;"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains(">rtt</text>") && !s.contains(">connect</text>"));
        let empty = svg(&[("rtt", &None)], "t");
        assert!(empty.contains("no measured messages"));
    }
}

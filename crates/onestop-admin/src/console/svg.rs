//! Charts drawn on the server as inline SVG: horizontal bars per
//! department and a line over time. Every label is escaped here (the
//! templates insert the markup as is), and numbers are formatted by the
//! chart, so nothing a department or citizen named can become markup.

use std::fmt::Write as _;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One bar: a label and its value (`None`: no data, drawn as "无数据").
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
}

/// How a value is written next to its bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Percent,
    Millis,
}

fn format(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => format!("{value:.0}"),
        Unit::Percent => format!("{:.1}%", value * 100.0),
        Unit::Millis => {
            if value >= 1000.0 {
                format!("{:.2} s", value / 1000.0)
            } else {
                format!("{value:.1} ms")
            }
        }
    }
}

/// Horizontal bars, one row per item, scaled to the largest value (or to
/// 1 for percentages).
pub fn bars(title: &str, items: &[Bar], unit: Unit, alt: bool) -> String {
    const ROW: usize = 20;
    const LABEL: usize = 150;
    const WIDTH: usize = 520;
    const BAR: f64 = 290.0;
    let height = 28 + ROW * items.len().max(1);
    let max = match unit {
        Unit::Percent => 1.0,
        _ => items
            .iter()
            .filter_map(|b| b.value)
            .fold(0.0_f64, f64::max)
            .max(1e-9),
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title><text x="0" y="14" font-weight="600">{t}</text>"#,
        t = escape(title)
    );
    if items.is_empty() {
        let _ = write!(s, r#"<text x="0" y="40" class="muted">无数据</text>"#);
    }
    for (i, b) in items.iter().enumerate() {
        let y = 24 + i * ROW;
        let label: String = b.label.chars().take(14).collect();
        let _ = write!(
            s,
            r#"<text x="{x}" y="{ty}" text-anchor="end">{l}</text>"#,
            x = LABEL - 6,
            ty = y + 13,
            l = escape(&label)
        );
        match b.value {
            Some(v) => {
                let w = (v.max(0.0) / max * BAR).clamp(0.0, BAR);
                let _ = write!(
                    s,
                    r#"<rect class="bar{c}" x="{LABEL}" y="{ry}" width="{w:.1}" height="14"><title>{l}: {f}</title></rect><text x="{tx:.1}" y="{ty}">{f}</text>"#,
                    c = if alt { " alt" } else { "" },
                    ry = y + 2,
                    l = escape(&b.label),
                    f = escape(&format(v, unit)),
                    tx = LABEL as f64 + w + 4.0,
                    ty = y + 13,
                );
            }
            None => {
                let _ = write!(
                    s,
                    r##"<text x="{x}" y="{ty}" fill="#9aa5b1">无数据</text>"##,
                    x = LABEL + 4,
                    ty = y + 13
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// One line of a line chart: a label and `(x label, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(String, Option<f64>)>,
}

/// Lines over shared x positions (the first line's), scaled to the
/// largest value; missing values break the line.
pub fn lines(title: &str, series: &[Line], unit: Unit) -> String {
    const WIDTH: f64 = 520.0;
    const HEIGHT: f64 = 200.0;
    const LEFT: f64 = 56.0;
    const TOP: f64 = 28.0;
    const BOTTOM: f64 = 28.0;
    let plot_w = WIDTH - LEFT - 10.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = series.first().map_or(0, |l| l.points.len());
    let max = series
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|(_, v)| *v))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let x = |i: usize| {
        if n <= 1 {
            LEFT
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h - (v / max * plot_h);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title><text x="0" y="14" font-weight="600">{t}</text>"#,
        t = escape(title)
    );
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}"/><text x="{lx}" y="{ty}" text-anchor="end">{top}</text><text x="{lx}" y="{b}" text-anchor="end">0</text>"#,
        b = TOP + plot_h,
        r = LEFT + plot_w,
        lx = LEFT - 4.0,
        ty = TOP + 4.0,
        top = escape(&format(max, unit)),
    );
    if let Some(first) = series.first() {
        // At most 6 x labels.
        let step = n.div_ceil(6).max(1);
        for (i, (label, _)) in first.points.iter().enumerate() {
            if i % step == 0 || i + 1 == n {
                let _ = write!(
                    s,
                    r#"<text x="{x:.1}" y="{y}" text-anchor="middle">{l}</text>"#,
                    x = x(i),
                    y = HEIGHT - 8.0,
                    l = escape(label)
                );
            }
        }
    }
    for (k, line) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, (_, v)) in line.points.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1} {:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            s,
            r#"<path class="line{c}" d="{d}"><title>{l}</title></path><text x="{lx:.1}" y="{ly}" class="legend">{l}</text>"#,
            c = if k % 2 == 1 { " alt" } else { "" },
            d = d.trim_end(),
            l = escape(&line.label),
            lx = LEFT + 10.0 + 140.0 * k as f64,
            ly = TOP - 6.0,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_formatted() {
        let svg = bars(
            "<b>title</b>",
            &[
                Bar {
                    label: "<script>alert(1)</script>".into(),
                    value: Some(0.5),
                },
                Bar {
                    label: "无数据的部门".into(),
                    value: None,
                },
            ],
            Unit::Percent,
            false,
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)"));
        assert!(svg.contains("50.0%"));
        assert!(svg.contains("无数据"));
        // Half of the bar's length for 50 %.
        assert!(svg.contains(r#"width="145.0""#), "{svg}");
        let line = lines(
            "\"quoted\"",
            &[Line {
                label: "a&b".into(),
                points: vec![
                    ("10:00".into(), Some(1.0)),
                    ("10:01".into(), None),
                    ("10:02".into(), Some(2.0)),
                ],
            }],
            Unit::Count,
        );
        assert!(line.contains("&quot;quoted&quot;"));
        assert!(line.contains("a&amp;b"));
        // A missing value breaks the line: two moves, no line-to.
        assert_eq!(line.matches('M').count(), 2, "{line}");
        assert_eq!(format(1234.0, Unit::Millis), "1.23 s");
        assert_eq!(format(12.34, Unit::Millis), "12.3 ms");
    }
}

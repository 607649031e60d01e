//! Charts drawn on the server: pure functions from daily series to the view model of an inline
//! SVG (`templates/admin/agents/_chart.html`). Every coordinate is a number formatted here and
//! every label goes through askama's escaping, so no markup is built by hand.
//!
//! The SVG has a fixed `viewBox` and scales with its width (aspect ratio kept), so circles stay
//! round and the axis labels live inside it, readable by screen readers along with the
//! `<title>`/`<desc>` of the chart and the `<title>` of every bar and point.

use chrono::NaiveDate;

/// viewBox width of a chart in a two-column grid (about its width in CSS pixels at 1440 px).
pub const NARROW: f64 = 520.0;
/// viewBox width of a chart spanning the page.
pub const WIDE: f64 = 1100.0;
/// Height of the viewBox.
pub const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
/// Intervals on the y axis (ticks = intervals + 1).
const Y_INTERVALS: u32 = 4;

/// How the values of a chart read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Whole numbers (runs).
    Count,
    /// 0–100 %.
    Percent,
    /// Milliseconds, shown as ms / s / min.
    DurationMs,
    /// Token counts, shown compactly (12k, 1.5M).
    Tokens,
    /// US dollars.
    Usd,
}

impl Scale {
    /// A value as an axis or tooltip label; `step` is the axis step (for decimals).
    pub fn label(self, value: f64, step: f64) -> String {
        match self {
            Scale::Count => format!("{}", value.round() as i64),
            Scale::Percent => format!("{}%", value.round() as i64),
            Scale::DurationMs => duration(value),
            Scale::Tokens => compact(value),
            Scale::Usd => {
                let decimals = if step <= 0.0 {
                    2
                } else {
                    (-step.log10().floor()).clamp(2.0, 4.0) as usize
                };
                format!("${value:.decimals$}")
            }
        }
    }
}

fn duration(ms: f64) -> String {
    match ms {
        m if m <= 0.0 => "0".into(),
        m if m < 1000.0 => format!("{} ms", m.round() as i64),
        m if m < 60_000.0 => trim_zero(format!("{:.1}", m / 1000.0)) + " s",
        m => trim_zero(format!("{:.1}", m / 60_000.0)) + " min",
    }
}

fn compact(n: f64) -> String {
    match n.abs() {
        a if a >= 1_000_000.0 => trim_zero(format!("{:.1}", n / 1_000_000.0)) + "M",
        a if a >= 1000.0 => trim_zero(format!("{:.1}", n / 1000.0)) + "k",
        _ => format!("{}", n.round() as i64),
    }
}

fn trim_zero(s: String) -> String {
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// One named series of a chart: a value per day (None: no data that day).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name (an agent, a model … on the spend page).
    pub name: String,
    /// CSS class giving its colour (`series-1` … `series-5`).
    pub class: &'static str,
    /// One value per day of the chart.
    pub values: Vec<Option<f64>>,
}

/// A label on an axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Position along the axis (x or y in viewBox units).
    pub at: String,
    /// Text.
    pub label: String,
}

/// A bar (or one segment of a stacked bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Left edge.
    pub x: String,
    /// Top edge.
    pub y: String,
    /// Width.
    pub width: String,
    /// Height.
    pub height: String,
    /// Series class.
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// A point of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Dot {
    /// Centre x.
    pub cx: String,
    /// Centre y.
    pub cy: String,
    /// Series class.
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// A polyline: consecutive days with a value (a day without data breaks the line).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `x,y x,y …`.
    pub points: String,
    /// Series class.
    pub class: &'static str,
}

/// Everything the chart template draws.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Unique on its page (for `aria-labelledby`).
    pub id: &'static str,
    /// Heading and SVG `<title>`.
    pub title: String,
    /// One sentence describing the data (SVG `<desc>`).
    pub description: String,
    /// True when there is nothing to draw: the template shows an empty state.
    pub empty: bool,
    /// Horizontal grid lines and y labels, bottom to top.
    pub y_ticks: Vec<Tick>,
    /// Day labels.
    pub x_ticks: Vec<Tick>,
    /// Bars (bar charts).
    pub bars: Vec<Bar>,
    /// Lines (line charts).
    pub lines: Vec<Line>,
    /// Points (line charts).
    pub dots: Vec<Dot>,
    /// Legend entries (name, class).
    pub legend: Vec<(String, &'static str)>,
    /// viewBox width ([`NARROW`] or [`WIDE`]).
    pub view_width: f64,
}

impl Chart {
    /// viewBox width.
    pub fn width(&self) -> String {
        num(self.view_width)
    }
    /// viewBox height.
    pub fn height(&self) -> String {
        num(HEIGHT)
    }
    /// x of the plot's left edge.
    pub fn left(&self) -> String {
        num(LEFT)
    }
    /// x of the plot's right edge.
    pub fn right(&self) -> String {
        num(self.view_width - RIGHT)
    }
    /// x of the y labels' right edge.
    pub fn label_x(&self) -> String {
        num(LEFT - 8.0)
    }
    /// y of the x labels' baseline.
    pub fn label_y(&self) -> String {
        num(HEIGHT - 8.0)
    }
}

/// A coordinate with one decimal.
fn num(v: f64) -> String {
    trim_zero(format!("{v:.1}"))
}

/// `Mar 3`.
pub fn day_label(day: NaiveDate) -> String {
    day.format("%b %-d").to_string()
}

/// A "nice" step (1, 2 or 5 × 10ⁿ) for an axis up to `max`; whole numbers for counts.
pub fn nice_step(max: f64, scale: Scale) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let raw = max / f64::from(Y_INTERVALS);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    match scale {
        Scale::Count | Scale::Tokens => step.max(1.0),
        _ => step,
    }
}

struct Frame {
    width: f64,
    days: usize,
    top_value: f64,
    step: f64,
}

impl Frame {
    fn new(width: f64, days: usize, max: f64, scale: Scale) -> Self {
        let (top_value, step) = if scale == Scale::Percent {
            (100.0, 25.0)
        } else {
            let step = nice_step(max, scale);
            ((max / step).ceil().max(1.0) * step, step)
        };
        Self {
            width,
            days,
            top_value,
            step,
        }
    }

    fn slot(&self) -> f64 {
        (self.width - LEFT - RIGHT) / self.days.max(1) as f64
    }

    fn x_center(&self, i: usize) -> f64 {
        LEFT + self.slot() * (i as f64 + 0.5)
    }

    fn y(&self, value: f64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        HEIGHT - BOTTOM - plot * (value / self.top_value).clamp(0.0, 1.0)
    }

    fn y_ticks(&self, scale: Scale) -> Vec<Tick> {
        let count = (self.top_value / self.step).round() as u32;
        (0..=count)
            .map(|k| {
                let value = f64::from(k) * self.step;
                Tick {
                    at: num(self.y(value)),
                    label: scale.label(value, self.step),
                }
            })
            .collect()
    }

    /// Labels a day a week, counted back from the last day so that it is always labelled.
    fn x_ticks(&self, days: &[NaiveDate]) -> Vec<Tick> {
        let n = days.len();
        days.iter()
            .enumerate()
            .filter(|(i, _)| (n - 1 - i).is_multiple_of(7))
            .map(|(i, d)| Tick {
                at: num(self.x_center(i)),
                label: day_label(*d),
            })
            .collect()
    }
}

fn value_at(series: &Series, i: usize) -> f64 {
    series.values.get(i).copied().flatten().unwrap_or(0.0)
}

/// Bars per day; several series are stacked (first series at the bottom). Zero-valued
/// segments are not drawn. Empty when every value is zero or missing. `width` is the viewBox
/// width ([`NARROW`] or [`WIDE`]).
pub fn bars(
    width: f64,
    id: &'static str,
    title: &str,
    days: &[NaiveDate],
    series: &[Series],
    scale: Scale,
) -> Chart {
    let totals: Vec<f64> = (0..days.len())
        .map(|i| series.iter().map(|s| value_at(s, i)).sum())
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let frame = Frame::new(width, days.len(), max, scale);
    let bar_width = (frame.slot() * 0.7).max(1.0);
    let mut out = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let mut base = 0.0;
        for s in series {
            let v = value_at(s, i);
            if v <= 0.0 {
                continue;
            }
            let (y_top, y_bottom) = (frame.y(base + v), frame.y(base));
            out.push(Bar {
                x: num(frame.x_center(i) - bar_width / 2.0),
                y: num(y_top),
                width: num(bar_width),
                height: num((y_bottom - y_top).max(0.5)),
                class: s.class,
                title: format!(
                    "{}: {} {}",
                    day_label(*day),
                    scale.label(v, frame.step),
                    s.name.to_lowercase()
                ),
            });
            base += v;
        }
    }
    let description = describe(title, days, &totals, scale, frame.step);
    Chart {
        id,
        title: title.to_owned(),
        description,
        empty: max <= 0.0,
        y_ticks: frame.y_ticks(scale),
        x_ticks: frame.x_ticks(days),
        bars: out,
        lines: Vec::new(),
        dots: Vec::new(),
        legend: legend(series),
        view_width: width,
    }
}

/// A line per series with a point per day that has a value; missing days break the line.
/// Empty when no day has a value. `width` is the viewBox width ([`NARROW`] or [`WIDE`]).
pub fn line(
    width: f64,
    id: &'static str,
    title: &str,
    days: &[NaiveDate],
    series: &[Series],
    scale: Scale,
) -> Chart {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .fold(0.0, f64::max);
    let any = series.iter().any(|s| s.values.iter().any(Option::is_some));
    let frame = Frame::new(width, days.len(), max, scale);
    let (mut lines, mut dots) = (Vec::new(), Vec::new());
    for s in series {
        let mut run: Vec<String> = Vec::new();
        for (i, day) in days.iter().enumerate() {
            match s.values.get(i).copied().flatten() {
                Some(v) => {
                    let (x, y) = (num(frame.x_center(i)), num(frame.y(v)));
                    run.push(format!("{x},{y}"));
                    dots.push(Dot {
                        cx: x,
                        cy: y,
                        class: s.class,
                        title: format!("{}: {}", day_label(*day), scale.label(v, frame.step)),
                    });
                }
                None => flush(&mut run, &mut lines, s.class),
            }
        }
        flush(&mut run, &mut lines, s.class);
    }
    let first: Vec<f64> = series
        .first()
        .map(|s| s.values.iter().map(|v| v.unwrap_or(0.0)).collect())
        .unwrap_or_default();
    Chart {
        id,
        title: title.to_owned(),
        description: describe(title, days, &first, scale, frame.step),
        empty: !any,
        y_ticks: frame.y_ticks(scale),
        x_ticks: frame.x_ticks(days),
        bars: Vec::new(),
        lines,
        dots,
        legend: legend(series),
        view_width: width,
    }
}

/// Ends a line segment; a segment of one point is left to its dot.
fn flush(run: &mut Vec<String>, lines: &mut Vec<Line>, class: &'static str) {
    if run.len() > 1 {
        lines.push(Line {
            points: run.join(" "),
            class,
        });
    }
    run.clear();
}

fn legend(series: &[Series]) -> Vec<(String, &'static str)> {
    series.iter().map(|s| (s.name.clone(), s.class)).collect()
}

/// "Runs per day from Mar 1 to Mar 30; highest: 7 on Mar 3."
fn describe(title: &str, days: &[NaiveDate], values: &[f64], scale: Scale, step: f64) -> String {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return format!("{title}: no data.");
    };
    let peak = values.iter().enumerate().filter(|(_, v)| **v > 0.0).fold(
        None,
        |best: Option<(usize, f64)>, (i, v)| match best {
            Some((_, b)) if b >= *v => best,
            _ => Some((i, *v)),
        },
    );
    let range = format!("{title} from {} to {}", day_label(*first), day_label(*last));
    match peak.and_then(|(i, v)| days.get(i).map(|d| (d, v))) {
        Some((day, v)) => format!(
            "{range}; highest: {} on {}.",
            scale.label(v, step),
            day_label(*day)
        ),
        None => format!("{range}; no data."),
    }
}

/// The `n` days ending with `last`, oldest first.
pub fn last_days(last: NaiveDate, n: u32) -> Vec<NaiveDate> {
    (0..n)
        .rev()
        .filter_map(|back| last.checked_sub_days(chrono::Days::new(u64::from(back))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u32) -> Vec<NaiveDate> {
        last_days(NaiveDate::from_ymd_opt(2025, 3, 30).unwrap_or_default(), n)
    }

    fn series(values: Vec<Option<f64>>) -> Series {
        Series {
            name: "Runs".into(),
            class: "series-1",
            values,
        }
    }

    #[test]
    fn steps_are_round_numbers() {
        assert_eq!(nice_step(7.0, Scale::Count), 2.0);
        assert_eq!(nice_step(100.0, Scale::Count), 50.0);
        assert_eq!(
            nice_step(3.0, Scale::Count),
            1.0,
            "counts never step by fractions"
        );
        assert_eq!(nice_step(0.03, Scale::Usd), 0.01);
        assert_eq!(nice_step(0.0, Scale::Usd), 1.0);
        assert_eq!(nice_step(f64::NAN, Scale::Count), 1.0);
    }

    #[test]
    fn labels_read_like_the_rest_of_the_admin() {
        assert_eq!(Scale::DurationMs.label(1500.0, 500.0), "1.5 s");
        assert_eq!(Scale::DurationMs.label(120_000.0, 1.0), "2 min");
        assert_eq!(Scale::DurationMs.label(250.0, 1.0), "250 ms");
        assert_eq!(Scale::Tokens.label(12_000.0, 1.0), "12k");
        assert_eq!(Scale::Tokens.label(1_500_000.0, 1.0), "1.5M");
        assert_eq!(Scale::Usd.label(0.015, 0.005), "$0.015");
        assert_eq!(Scale::Usd.label(2.0, 1.0), "$2.00");
        assert_eq!(Scale::Percent.label(66.6, 25.0), "67%");
    }

    #[test]
    fn a_bar_per_day_with_a_value_the_highest_reaching_the_top() {
        let d = days(30);
        let mut values = vec![None; 30];
        values[3] = Some(2.0);
        values[10] = Some(8.0);
        values[29] = Some(5.0);
        let chart = bars(
            NARROW,
            "runs",
            "Runs per day",
            &d,
            &[series(values)],
            Scale::Count,
        );
        assert!(!chart.empty);
        assert_eq!(chart.bars.len(), 3);
        // 8 is the top of a 0..8 axis with a step of 2: the bar starts at the plot's top.
        assert_eq!(chart.y_ticks.last().map(|t| t.label.as_str()), Some("8"));
        assert_eq!(chart.bars[1].y, num(TOP));
        assert_eq!(chart.y_ticks.len(), 5);
        assert_eq!(chart.bars[1].title, "Mar 11: 8 runs");
        assert_eq!((chart.width(), chart.right()), ("520".into(), "508".into()));
        let wide = bars(
            WIDE,
            "runs",
            "Runs per day",
            &d,
            &[series(vec![Some(1.0); 30])],
            Scale::Count,
        );
        assert_eq!(wide.width(), "1100");
        let last: f64 = wide.bars[29].x.parse().unwrap_or(0.0);
        let w: f64 = wide.bars[29].width.parse().unwrap_or(0.0);
        assert!(
            last + w <= WIDE - RIGHT,
            "the last bar stays inside the plot"
        );
        assert!(chart.description.contains("highest: 8 on Mar 11"));
    }

    #[test]
    fn stacked_segments_sit_on_each_other() {
        let d = days(2);
        let ok = Series {
            name: "Completed".into(),
            class: "series-2",
            values: vec![Some(3.0), Some(0.0)],
        };
        let bad = Series {
            name: "Failed".into(),
            class: "series-3",
            values: vec![Some(1.0), Some(2.0)],
        };
        let chart = bars(NARROW, "runs", "Runs", &d, &[ok, bad], Scale::Count);
        assert_eq!(chart.bars.len(), 3, "the zero segment is not drawn");
        assert_eq!(chart.bars[0].y.parse::<f64>().ok(), {
            let top_of_failed: f64 = chart.bars[1].y.parse().unwrap_or(0.0);
            let h: f64 = chart.bars[1].height.parse().unwrap_or(0.0);
            Some(top_of_failed + h)
        });
        assert_eq!(
            chart.legend,
            vec![
                ("Completed".to_owned(), "series-2"),
                ("Failed".to_owned(), "series-3")
            ]
        );
    }

    #[test]
    fn lines_break_on_days_without_data() {
        let d = days(6);
        let values = vec![Some(1.0), Some(2.0), None, Some(4.0), None, Some(3.0)];
        let chart = line(
            NARROW,
            "t",
            "Duration",
            &d,
            &[series(values)],
            Scale::DurationMs,
        );
        assert_eq!(chart.dots.len(), 4);
        assert_eq!(chart.lines.len(), 1, "only days 1-2 are consecutive");
        assert_eq!(chart.lines[0].points.split(' ').count(), 2);
    }

    #[test]
    fn percent_charts_always_span_0_to_100() {
        let d = days(3);
        let chart = line(
            NARROW,
            "s",
            "Success",
            &d,
            &[series(vec![Some(0.0), None, Some(50.0)])],
            Scale::Percent,
        );
        let labels: Vec<&str> = chart.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, vec!["0%", "25%", "50%", "75%", "100%"]);
        assert!(!chart.empty, "0% is data");
    }

    #[test]
    fn no_data_is_an_empty_chart() {
        let d = days(30);
        assert!(
            bars(
                NARROW,
                "a",
                "Runs",
                &d,
                &[series(vec![None; 30])],
                Scale::Count
            )
            .empty
        );
        assert!(
            line(
                NARROW,
                "b",
                "Cost",
                &d,
                &[series(vec![None; 30])],
                Scale::Usd
            )
            .empty
        );
        assert!(bars(NARROW, "c", "Runs", &[], &[], Scale::Count).empty);
    }

    #[test]
    fn the_last_day_and_every_seventh_before_it_are_labelled() {
        let d = days(30);
        let chart = bars(
            NARROW,
            "a",
            "Runs",
            &d,
            &[series(vec![Some(1.0); 30])],
            Scale::Count,
        );
        let labels: Vec<&str> = chart.x_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, vec!["Mar 2", "Mar 9", "Mar 16", "Mar 23", "Mar 30"]);
        assert_eq!(d.len(), 30);
        assert_eq!(
            d[0],
            NaiveDate::from_ymd_opt(2025, 3, 1).unwrap_or_default()
        );
    }
}

//! `fragseal bench --plot FILE.svg`: throughput against fragment size (log scale), one solid
//! line per configuration (provider, operation, threads) and one dashed line per raw AEAD
//! baseline (provider, threads), drawn with `plotters`' SVG backend.

use crate::bench::{size_label, Figure, Operation, Report};
use crate::error::{CliError, Exit};
use plotters::prelude::*;
use std::path::Path;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One line of the plot: its label and its (size, MB/s) points in size order.
struct Line {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

fn lines(report: &Report) -> Vec<Line> {
    let mut configs: Vec<(&str, Operation, usize)> = Vec::new();
    for f in &report.figures {
        let c = (f.provider, f.operation, f.threads);
        if !configs.contains(&c) {
            configs.push(c);
        }
    }
    let mut baselines: Vec<(&str, usize)> = Vec::new();
    for &(p, _, t) in &configs {
        if !baselines.contains(&(p, t)) {
            baselines.push((p, t));
        }
    }
    let points = |sel: &dyn Fn(&Figure) -> bool, val: &dyn Fn(&Figure) -> f64| {
        let mut v: Vec<(f64, f64)> = report
            .figures
            .iter()
            .filter(|f| sel(f))
            .map(|f| (f.size as f64, val(f) / 1e6))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    };
    let mut out = Vec::new();
    for (i, &(p, t)) in baselines.iter().enumerate() {
        out.push(Line {
            label: format!("raw {p} AES-GCM, {t} thread(s)"),
            color: PALETTE[i % PALETTE.len()],
            dashed: true,
            points: points(&|f| f.provider == p && f.threads == t, &|f| {
                f.raw_bytes_per_sec
            }),
        });
    }
    for &(p, op, t) in &configs {
        let i = baselines.iter().position(|&b| b == (p, t)).unwrap_or(0);
        let op_name = match op {
            Operation::Seal => "seal",
            Operation::Open => "open",
        };
        out.push(Line {
            label: format!("engine {op_name}, {p}, {t} thread(s)"),
            color: PALETTE[i % PALETTE.len()],
            dashed: false,
            points: points(
                &|f| f.provider == p && f.operation == op && f.threads == t,
                &|f| f.engine_bytes_per_sec,
            ),
        });
    }
    out
}

/// Writes the plot of `report` to `path`.
pub fn write_svg(path: &Path, report: &Report) -> Result<(), CliError> {
    let fail = |e: &dyn std::fmt::Display| {
        CliError::new(
            Exit::Local,
            format!("cannot draw the plot {}: {e}", path.display()),
        )
    };
    let lines = lines(report);
    let (mut xmin, mut xmax, mut ymax) = (f64::MAX, 0f64, 0f64);
    for l in &lines {
        for &(x, y) in &l.points {
            xmin = xmin.min(x);
            xmax = xmax.max(x);
            ymax = ymax.max(y);
        }
    }
    if lines.is_empty() || xmax <= 0.0 {
        return Err(fail(&"no figures to plot"));
    }
    // A single size still gets a visible x range.
    let (xmin, xmax) = (xmin / 1.5, xmax * 1.5);
    let ymax = (ymax * 1.1).max(1.0);

    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let caption = format!(
        "fragseal bench: suite {}, cache {}, {} credential(s)",
        report.suite,
        if report.cache { "on" } else { "off" },
        report.credentials
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((xmin..xmax).log_scale(), 0f64..ymax)
        .map_err(|e| fail(&e))?;
    let x_label = |x: &f64| size_label(x.round() as usize);
    chart
        .configure_mesh()
        .x_desc("fragment size")
        .y_desc("throughput, MB/s (10^6 bytes)")
        .x_label_formatter(&x_label)
        .draw()
        .map_err(|e| fail(&e))?;
    for l in lines {
        let color = l.color;
        let style = color.stroke_width(if l.dashed { 1 } else { 2 });
        let series = if l.dashed {
            chart.draw_series(DashedLineSeries::new(l.points, 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(l.points, style))
        }
        .map_err(|e| fail(&e))?;
        series
            .label(l.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

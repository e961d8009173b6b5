//! SVG plots of a loss and its derivative over a prediction sweep, as the
//! Gluon tutorial draws them (prediction on x), with the loss on the left
//! axis and the derivative on its own axis on the right.

use plotters::prelude::*;
use std::path::Path;

/// The range of `values`, padded by 5% (at least 1e-3) on each side.
fn padded_range(values: &[f32]) -> std::ops::Range<f32> {
    let lo = values.iter().fold(f32::INFINITY, |m, &v| m.min(v));
    let hi = values.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let pad = 0.05 * (hi - lo).max(1e-3);
    (lo - pad)..(hi + pad)
}

/// Draws `loss` (left axis) and `grad` (right axis) against `x` into an SVG
/// at `path`.
pub fn loss_and_gradient(
    path: &Path,
    title: &str,
    x: &[f32],
    loss: &[f32],
    grad: &[f32],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (480, 320)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (x0, x1) = (x[0], x[x.len() - 1]);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .right_y_label_area_size(45)
        .build_cartesian_2d(x0..x1, padded_range(loss))
        .map_err(|e| e.to_string())?
        .set_secondary_coord(x0..x1, padded_range(grad));
    chart
        .configure_mesh()
        .x_desc("prediction")
        .y_desc("loss")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .configure_secondary_axes()
        .y_desc("d loss / d prediction")
        .axis_desc_style(("sans-serif", 12).into_font().color(&RED))
        .label_style(("sans-serif", 11).into_font().color(&RED))
        .draw()
        .map_err(|e| e.to_string())?;
    let series = |v: &[f32]| x.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
    chart
        .draw_series(LineSeries::new(series(loss), BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label("loss (left axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(series(grad), RED.stroke_width(1)))
        .map_err(|e| e.to_string())?
        .label("d loss / d prediction (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(1)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperMiddle)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

//! SVG plots of a loss and its gradient over a prediction sweep, as the
//! Gluon tutorial draws them (prediction on x, loss on y).

use plotters::prelude::*;
use std::path::Path;

/// Draws `loss` and `grad` against `x` into an SVG at `path`.
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
    let lo = loss
        .iter()
        .chain(grad)
        .fold(f32::INFINITY, |m, &v| m.min(v));
    let hi = loss
        .iter()
        .chain(grad)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let pad = 0.05 * (hi - lo).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("prediction")
        .y_desc("loss")
        .draw()
        .map_err(|e| e.to_string())?;
    let series = |v: &[f32]| x.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
    chart
        .draw_series(LineSeries::new(series(loss), BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label("loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(series(grad), RED.stroke_width(1)))
        .map_err(|e| e.to_string())?
        .label("d loss / d prediction")
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

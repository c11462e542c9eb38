//! Training plots with plotters: the data and the fitted curve (models with
//! one input column) next to the loss curve, as SVG or PNG.

use std::path::Path;
use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, ScaleFont};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use super::format::format_g;

/// The font used for all text, bundled so plots look the same everywhere
/// (DejaVu Sans, Bitstream Vera licence: assets/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Size in pixels of a plot with the fit panel (two panels side by side).
pub const PLOT_SIZE_WITH_FIT: (u32, u32) = (1200, 500);
/// Size in pixels of a plot with the loss curve only.
pub const PLOT_SIZE_LOSS_ONLY: (u32, u32) = (700, 500);

/// The image format, chosen by the file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Svg,
    Png,
}

impl Format {
    /// `.svg` or `.png` (any case); anything else is an error message.
    pub(crate) fn from_path(path: &Path) -> Result<Format, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(format!(
                "cannot plot to '{}': the file name must end in .svg or .png",
                path.display()
            )),
        }
    }
}

/// The data panel: points and the model's prediction as a curve.
#[derive(Clone, Debug, Default)]
pub(crate) struct FitPanel {
    /// Axis labels: the input and target column names.
    pub x_label: String,
    pub y_label: String,
    /// The data points.
    pub points: Vec<(f64, f64)>,
    /// The fitted curve, sampled in order of x (non-finite values break it).
    pub curve: Vec<(f64, f64)>,
}

/// Everything a plot shows.
#[derive(Clone, Debug, Default)]
pub(crate) struct PlotData {
    /// The loss name (the label of the loss axis).
    pub loss_name: String,
    /// (epoch, cost) pairs in epoch order.
    pub loss: Vec<(f64, f64)>,
    /// The data panel, for models with one input column.
    pub fit: Option<FitPanel>,
}

impl PlotData {
    /// The image size this plot is drawn at.
    pub(crate) fn size(&self) -> (u32, u32) {
        if self.fit.is_some() {
            PLOT_SIZE_WITH_FIT
        } else {
            PLOT_SIZE_LOSS_ONLY
        }
    }
}

/// Draws `data` into `path` (SVG or PNG by extension). Errors are messages
/// naming the file.
pub(crate) fn render(path: &Path, data: &PlotData) -> Result<(), String> {
    let format = Format::from_path(path)?;
    register_font()?;
    let size = data.size();
    let fail = |e: String| format!("cannot write the plot '{}': {e}", path.display());
    match format {
        Format::Svg => draw(SVGBackend::new(path, size).into_drawing_area(), data).map_err(fail),
        Format::Png => draw(
            GlyphText(BitMapBackend::new(path, size)).into_drawing_area(),
            data,
        )
        .map_err(fail),
    }
}

/// The bundled font for [`GlyphText`], parsed once.
fn glyph_font() -> Option<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
}

/// A drawing backend that draws text with each glyph where the font puts
/// it, and forwards everything else to the backend it wraps (the bitmap).
///
/// plotters 0.3.7 draws ab_glyph text with every glyph's bitmap starting at
/// the pen position (its left side bearing ignored) and truncates vertical
/// offsets toward zero, so PNG text comes out unevenly spaced ("ep och")
/// with dots a pixel too high. Here each glyph is outlined at its sub-pixel
/// pen position on one baseline. The layout is plotters' own (same advance
/// widths and kerning, baseline half the font size below the top of the
/// text box), so text sits where plotters measured it.
struct GlyphText<B>(B);

impl<B: DrawingBackend> DrawingBackend for GlyphText<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.0.estimate_text_size(text, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        let Some(font) = glyph_font() else {
            return self.0.draw_text(text, style, pos);
        };
        if color.alpha == 0.0 {
            return Ok(());
        }
        // Placement as in plotters' default draw_text.
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let scaled = font.as_scaled(style.size() as f32);
        let baseline = style.size() as f32 / 2.0;
        let mut pen = 0f32;
        let mut prev = None;
        let mut pixels = Vec::new();
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                pen += scaled.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(scaled.scale(), point(pen, baseline));
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|x, y, coverage| {
                    pixels.push((left + x as i32, top + y as i32, coverage));
                });
            }
            pen += scaled.h_advance(id);
        }
        for (x, y, coverage) in pixels {
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let ink = BackendColor {
                alpha: color.alpha * f64::from(coverage),
                rgb: color.rgb,
            };
            self.0.draw_pixel((pos.0 + x, pos.1 + y), ink)?;
        }
        Ok(())
    }
}

fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the bundled plot font could not be loaded".to_string())
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &PlotData) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    match &data.fit {
        Some(fit) => {
            let (left, right) = root.split_horizontally(PLOT_SIZE_WITH_FIT.0 / 2);
            draw_fit(&left, fit).map_err(err)?;
            draw_loss(&right, data).map_err(err)?;
        }
        None => draw_loss(&root, data).map_err(err)?,
    }
    root.present().map_err(err)
}

/// The smallest and largest finite values, widened by 5% (or by 1 around a
/// single value); (0, 1) when there are none.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if !span.is_finite() {
        return (lo, hi);
    }
    if span <= f64::EPSILON * lo.abs().max(hi.abs()) {
        let d = lo.abs().max(1.0) * 0.5;
        return (lo - d, hi + d);
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// An axis label: `%g` with `digits` significant digits, and `0` for the
/// rounding noise that tick positions near zero carry (like -5.551e-17 on
/// an axis spanning 1).
fn tick(v: f64, span: f64, digits: usize) -> String {
    if v.abs() <= span.abs() * 1e-9 {
        "0".to_string()
    } else {
        format_g(v, digits)
    }
}

/// Maximal runs of consecutive points with finite coordinates.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            run.push((x, y));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn draw_fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fit: &FitPanel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (x0, x1) = padded_range(fit.points.iter().chain(&fit.curve).map(|p| p.0));
    let (y0, y1) = padded_range(fit.points.iter().chain(&fit.curve).map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption("Data and fitted model", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(fit.x_label.as_str())
        .y_desc(fit.y_label.as_str())
        .x_label_formatter(&|v| tick(*v, x1 - x0, 4))
        .y_label_formatter(&|v| tick(*v, y1 - y0, 4))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    let point_style = ShapeStyle::from(&BLUE).filled();
    chart.draw_series(
        fit.points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| Circle::new((x, y), 4, point_style)),
    )?;
    let line_style = ShapeStyle::from(&RED).stroke_width(2);
    for run in finite_runs(&fit.curve) {
        chart.draw_series(LineSeries::new(run, line_style))?;
    }
    Ok(())
}

fn draw_loss<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &PlotData,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (x0, x1) = padded_range(data.loss.iter().map(|p| p.0));
    let label = if data.loss_name.is_empty() {
        "cost"
    } else {
        data.loss_name.as_str()
    };
    let finite = || data.loss.iter().filter(|p| p.1.is_finite());
    let lo = finite().fold(f64::INFINITY, |m, p| m.min(p.1));
    let hi = finite().fold(f64::NEG_INFINITY, |m, p| m.max(p.1));
    let line_style = ShapeStyle::from(&BLUE).stroke_width(2);
    // A log axis when the costs are positive and span more than a decade.
    if lo > 0.0 && hi / lo > 10.0 && hi.is_finite() {
        let mut chart = ChartBuilder::on(area)
            .caption("Loss", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, (lo / 1.25..hi * 1.25).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(format!("{label} (log scale)"))
            .x_label_formatter(&|v| tick(*v, x1 - x0, 6))
            .y_label_formatter(&|v| format_g(*v, 4))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        for run in finite_runs(&data.loss) {
            chart.draw_series(LineSeries::new(run, line_style))?;
        }
    } else {
        let (y0, y1) = padded_range(data.loss.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(area)
            .caption("Loss", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(label)
            .x_label_formatter(&|v| tick(*v, x1 - x0, 6))
            .y_label_formatter(&|v| tick(*v, y1 - y0, 4))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        for run in finite_runs(&data.loss) {
            chart.draw_series(LineSeries::new(run, line_style))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_padded_and_never_empty() {
        assert_eq!(padded_range([0.0, 10.0].into_iter()), (-0.5, 10.5));
        assert_eq!(padded_range([3.0, 3.0].into_iter()), (1.5, 4.5));
        assert_eq!(padded_range([f64::NAN].into_iter()), (0.0, 1.0));
        assert_eq!(padded_range(std::iter::empty()), (0.0, 1.0));
    }

    #[test]
    fn tick_labels_hide_rounding_noise() {
        assert_eq!(tick(-5.551115123125783e-17, 1.6, 4), "0");
        assert_eq!(tick(0.2, 1.6, 4), "0.2");
        assert_eq!(tick(1e-12, 1e-10, 4), "1e-12");
        assert_eq!(tick(1500.0, 2000.0, 6), "1500");
    }

    #[test]
    fn curves_break_at_non_finite_points() {
        let pts = [(0.0, 1.0), (1.0, f64::NAN), (2.0, 2.0), (3.0, 3.0)];
        assert_eq!(
            finite_runs(&pts),
            vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]
        );
    }

    #[test]
    fn format_comes_from_the_extension() {
        assert_eq!(Format::from_path(Path::new("a.SVG")), Ok(Format::Svg));
        assert_eq!(Format::from_path(Path::new("dir/a.png")), Ok(Format::Png));
        let e = Format::from_path(Path::new("a.jpg")).unwrap_err();
        assert_eq!(
            e,
            "cannot plot to 'a.jpg': the file name must end in .svg or .png"
        );
    }
}

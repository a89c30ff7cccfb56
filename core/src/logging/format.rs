//! The file log's line format (logs spec §2):
//! `[YYYY-MM-DD HH:MM:SS] [<request id or -------->] [<level>] [<file>:<line>] <message>`.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A span's `request_id` field, kept in its extensions.
struct RequestId(String);

/// Stores the `request_id` field of new spans for [`SpecFormat`].
pub struct RequestIdLayer;

struct FindId(Option<String>);

impl Visit for FindId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request_id" {
            let mut s = String::new();
            let _ = write!(s, "{value:?}");
            self.0 = Some(s.trim_matches('"').to_string());
        }
    }
}

impl<S> Layer<S> for RequestIdLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = FindId(None);
        attrs.record(&mut found);
        if let (Some(rid), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(rid));
        }
    }
}

pub struct SpecFormat;

impl<S, N> FormatEvent<S, N> for SpecFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let id = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
        });
        let level = match *meta.level() {
            Level::ERROR => "error",
            Level::WARN => "warn ",
            Level::INFO => "info ",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        write!(
            w,
            "[{}] [{}] [{level}] ",
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
            id.as_deref().unwrap_or("--------")
        )?;
        if let (Some(file), Some(line)) = (meta.file(), meta.line()) {
            let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
            write!(w, "[{base}:{line}] ")?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

//! tracing set-up: JSON lines (one access-log line per request under the
//! `onestop::access` target) or human-readable text. pingora logs through
//! the `log` crate; tracing-subscriber's `init` bridges it.
//!
//! Every line goes through [`Redacting`] on its way to stderr: resident ID
//! numbers and mainland mobile numbers are masked
//! ([`onestop_core::mask::redact_text`]'s rules) whatever wrote them.

use std::cell::Cell;
use std::io::{self, Write};

use onestop_core::mask;
use tracing::Metadata;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn,h2=warn,tower=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting(std::io::stderr));
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(e) = result {
        eprintln!("telemetry already initialised: {e}");
    }
}

/// A [`MakeWriter`] whose writers hold an event's bytes and, when dropped
/// or flushed, write them to `M`'s writer in one `write_all` with every
/// resident ID and mobile number masked. tracing-subscriber's fmt layer
/// formats an event into one buffer, makes a writer, `write_all`s the
/// buffer and drops the writer: one event, one redacted write, so lines of
/// concurrent threads do not interleave. A `flush` in the middle of an
/// event would write what is buffered so far (a number cut in two there
/// would not be recognised); the fmt layer does not do that.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        RedactingWriter::new(self.0.make_writer_for(meta))
    }
}

thread_local! {
    /// The buffer of this thread's last writer, kept for the next one so an
    /// event costs no allocation once lines have reached their usual size.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer bigger than this (a huge event) is freed, not kept as the spare.
const SPARE_CAPACITY: usize = 64 * 1024;

/// The writer of [`Redacting`]: buffers, then masks and writes on drop.
pub struct RedactingWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        // A writer made while another is alive on this thread (an event
        // logged from inside a write) finds no spare and starts empty.
        let buf = SPARE.try_with(Cell::take).unwrap_or_default();
        RedactingWriter { buf, inner }
    }

    /// Masks what is buffered and writes it to the inner writer at once.
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        mask::redact_in_place(&mut self.buf);
        let written = self.inner.write_all(&self.buf);
        self.buf.clear();
        written
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write to.
        let _ = self.emit();
        let buf = std::mem::take(&mut self.buf);
        if buf.capacity() <= SPARE_CAPACITY {
            let _ = SPARE.try_with(|spare| spare.set(buf));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    const ID: &str = "110101199003077774";
    const PHONE: &str = "13812345678";

    /// An in-memory sink counting the writes it receives.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(data);
            *self.writes.lock().unwrap() += 1;
            Ok(data.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }

        fn writes(&self) -> usize {
            *self.writes.lock().unwrap()
        }
    }

    #[test]
    fn a_line_written_in_pieces_comes_out_masked_in_one_write() {
        let sink = Sink::default();
        {
            let mut w = RedactingWriter::new(sink.clone());
            // The ID and the phone cut across writes.
            w.write_all("居民 110101199".as_bytes()).unwrap();
            w.write_all(b"003077774 phone=138").unwrap();
            w.write_all(b"12345678\n").unwrap();
            assert_eq!(sink.writes(), 0, "nothing before the writer is dropped");
        }
        assert_eq!(sink.text(), "居民 110***********7774 phone=138****5678\n");
        assert_eq!(sink.writes(), 1);
        // An empty event writes nothing.
        drop(RedactingWriter::new(sink.clone()));
        assert_eq!(sink.writes(), 1);
    }

    #[test]
    fn flush_writes_what_is_buffered() {
        let mut out = Vec::new();
        let mut w = RedactingWriter::new(&mut out);
        w.write_all(format!("{PHONE}\n").as_bytes()).unwrap();
        w.flush().unwrap();
        w.write_all(format!("{ID}\n").as_bytes()).unwrap();
        drop(w);
        assert_eq!(out, b"138****5678\n110***********7774\n");
    }

    /// What a subscriber of `format` writes for one event with an ID and a
    /// phone in its message and its fields.
    fn logged(format: LogFormat) -> String {
        let sink = Sink::default();
        let make = {
            let sink = sink.clone();
            Redacting(move || sink.clone())
        };
        let builder = tracing_subscriber::fmt().with_writer(make).with_ansi(false);
        let emit = || {
            tracing::warn!(
                path = %format!("/api/v1/depts/hpf/citizens/{ID}/accounts"),
                phone = PHONE,
                "no such citizen {ID} (手机{PHONE})"
            );
            tracing::info!(target: "onestop::access", path = "/api/v1/catalog", status = 200);
        };
        match format {
            LogFormat::Json => {
                let subscriber = builder.json().flatten_event(true).finish();
                tracing::subscriber::with_default(subscriber, emit);
            }
            LogFormat::Text => {
                tracing::subscriber::with_default(builder.finish(), emit);
            }
        }
        assert_eq!(sink.writes(), 2, "one write per event");
        sink.text()
    }

    #[test]
    fn json_and_text_lines_hold_only_masked_forms() {
        for format in [LogFormat::Json, LogFormat::Text] {
            let text = logged(format);
            assert_eq!(text.lines().count(), 2, "{text}");
            assert!(!text.contains(ID) && !text.contains(PHONE), "{text}");
            assert_eq!(text.matches("110***********7774").count(), 2, "{text}");
            assert_eq!(text.matches("138****5678").count(), 2, "{text}");
            assert!(text.contains("/api/v1/catalog"), "{text}");
            assert!(mask::find_unmasked(&text).is_empty(), "{text}");
            if format == LogFormat::Json {
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line).unwrap();
                }
            }
        }
    }
}

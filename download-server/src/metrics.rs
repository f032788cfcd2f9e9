//! Prometheus metrics: outcomes by kind, bytes sent, downloads in flight, verification latency.
//! Labels are fixed outcome names, never paths (a path holds a token).

use crate::outcome::Outcome;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    outcomes: IntCounterVec,
    pub bytes_sent: IntCounter,
    /// The part of `bytes_sent` sendfile(2) wrote (`--sendfile on`).
    pub sendfile_bytes: IntCounter,
    pub in_flight: IntGauge,
    /// Streams a grant stopped before their response's end (another stream had the bytes, or
    /// the allowance was spent).
    pub stopped_streams: IntCounter,
    pub verify_seconds: Histogram,
    /// Signatures per batch check (1: checked alone).
    pub verify_batch_size: Histogram,
    /// Batches with a bad signature in them (each then checked alone).
    pub verify_batch_failures: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let outcomes = IntCounterVec::new(
            Opts::new("download_requests_total", "Download requests by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let bytes_sent =
            IntCounter::new("download_bytes_sent_total", "Body bytes sent for downloads")
                .expect("valid metric");
        let sendfile_bytes = IntCounter::new(
            "download_sendfile_bytes_total",
            "Body bytes of downloads written by sendfile(2) (a part of download_bytes_sent_total)",
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("downloads_in_flight", "Download bodies being streamed now")
            .expect("valid metric");
        let stopped_streams = IntCounter::new(
            "download_streams_stopped_total",
            "Download bodies a grant stopped before their end (bytes another stream had, or the \
             allowance spent)",
        )
        .expect("valid metric");
        let verify_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "token_verify_seconds",
                "Time to verify a token (signature and claims)",
            )
            .buckets(vec![
                0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1,
            ]),
        )
        .expect("valid metric");
        let verify_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "token_verify_batch_size",
                "Token signatures checked together in one batch (1: alone)",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("valid metric");
        let verify_batch_failures = IntCounter::new(
            "token_verify_batch_failures_total",
            "Signature batches that failed, each signature in them then checked alone",
        )
        .expect("valid metric");
        for outcome in Outcome::ALL {
            outcomes.with_label_values(&[outcome.as_str()]);
        }
        registry
            .register(Box::new(outcomes.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(bytes_sent.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(sendfile_bytes.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(stopped_streams.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(verify_seconds.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(verify_batch_size.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(verify_batch_failures.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            outcomes,
            bytes_sent,
            sendfile_bytes,
            in_flight,
            stopped_streams,
            verify_seconds,
            verify_batch_size,
            verify_batch_failures,
        }
    }

    pub fn outcome(&self, outcome: Outcome) {
        self.outcomes.with_label_values(&[outcome.as_str()]).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("Prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts one download in flight for as long as it lives.
pub struct InFlight(IntGauge);

impl InFlight {
    pub fn start(gauge: &IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

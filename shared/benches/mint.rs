//! Minting cost per token on one core: what Server A pays per Download click.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::{DownloadName, Minter, ObjectPath, SigningKey};
use std::hint::black_box;

fn mint(c: &mut Criterion) {
    let minter = Minter::new(
        SigningKey::generate().expect("key"),
        "https://app.example",
        "download",
        300,
    );
    let obj = ObjectPath::parse("users/42/report-2026.pdf").expect("path");
    let name = DownloadName::sanitize("Quarterly report.pdf");
    let mut group = c.benchmark_group("mint");
    group.throughput(Throughput::Elements(1));
    group.bench_function("eddsa_token", |b| {
        b.iter(|| {
            minter
                .mint(black_box("user-42"), black_box(&obj), Some(&name))
                .expect("mint")
        });
    });
    group.finish();
}

criterion_group!(benches, mint);
criterion_main!(benches);

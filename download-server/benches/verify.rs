//! Token verification on one core through the server's own code path (`Verifier`, the keys as
//! loaded from a JWKS), next to the bare Ed25519 signature check it is built around. The
//! `verify/server_path` figure is the crypto limit `bench/run` compares request rates with.
//!
//! `verify_batch/{n}`: n signatures under the one issuer key checked as one batch, per signature,
//! against `verify_batch/single` (the same signatures one at a time); `verify_batched_requests/{n}`:
//! n concurrent `Verifier::verify` calls on one worker thread, through the per-worker batcher the
//! server runs (queue, flush task, batch, claims).

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use download_server::jwks::{KeyMap, VerifyingKey};
use download_server::verify::signature::batch_verifies;
use std::hint::black_box;

/// Distinct tokens per case, so that no figure comes from one message.
const TOKENS: usize = 4096;
const BATCH_SIZES: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = support::Keys::generate();
    let verifier = keys.verifier(&runtime);
    let token = keys.token("users/42/files/report.pdf");
    assert!(verifier.verify_with_current_keys(&token).is_ok());

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    // What every GET /d/{token} runs: header checks, key lookup, signature, claims.
    group.bench_function("server_path", |b| {
        b.iter(|| {
            verifier
                .verify_with_current_keys(black_box(&token))
                .expect("valid")
        });
    });
    // The async entry point the handler awaits (resolves without suspending for a known kid).
    group.bench_function("server_path_async", |b| {
        b.to_async(&runtime)
            .iter(|| async { verifier.verify(black_box(&token)).await.expect("valid") });
    });
    // The floor: Ed25519 over the signing input alone, with the key as the JWKS loaded it.
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("b64");
    let key = issuer_key(&keys, &runtime);
    group.bench_function("ed25519_signature_only", |b| {
        b.iter(|| {
            assert!(key.verifies(black_box(signing_input.as_bytes()), black_box(&signature)));
        });
    });
    let public = URL_SAFE_NO_PAD
        .decode(keys.minter.key().public_jwk().x)
        .expect("b64");
    let public_key =
        aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public)
            .expect("public key");
    // aws-lc-rs, which this server used before (RFC 8032's cofactorless rule; no batch API).
    group.bench_function("ed25519_signature_only_aws_lc", |b| {
        b.iter(|| {
            public_key
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .expect("valid");
        });
    });
    // For comparison, the path this server used before: jsonwebtoken's `decode_header` + `decode`
    // (three header parses, the public key re-parsed per call, claims deserialized twice).
    let decoding_key =
        jsonwebtoken::DecodingKey::from_ed_components(&keys.minter.key().public_jwk().x)
            .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[support::ISSUER]);
    validation.set_audience(&[support::AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            let header = jsonwebtoken::decode_header(black_box(&token)).expect("header");
            assert!(header.kid.is_some());
            jsonwebtoken::decode::<shared::Claims>(&token, &decoding_key, &validation)
                .expect("valid")
        });
    });
    // A forged signature: refused at the same cost, never a cheaper path for attackers to probe.
    let mut forged = token.clone();
    let flip = forged.len() - 20;
    let replaced = if &forged[flip..=flip] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(flip..=flip, replaced);
    group.bench_function("bad_signature", |b| {
        b.iter(|| {
            verifier
                .verify_with_current_keys(black_box(&forged))
                .expect_err("forged")
        });
    });
    group.finish();
}

/// `(signing input, signature)` of `TOKENS` distinct tokens.
fn signed_inputs(keys: &support::Keys) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..TOKENS)
        .map(|i| {
            let token = keys.token(&format!("users/42/files/{i}.pdf"));
            let (input, signature) = token.rsplit_once('.').expect("three parts");
            (
                input.as_bytes().to_vec(),
                URL_SAFE_NO_PAD.decode(signature).expect("b64"),
            )
        })
        .collect()
}

fn issuer_key(keys: &support::Keys, runtime: &tokio::runtime::Runtime) -> VerifyingKey {
    let verifier = keys.verifier(runtime);
    let map: std::sync::Arc<KeyMap> = verifier.keys().current().clone();
    map.values().next().expect("one key").clone()
}

fn verify_batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = support::Keys::generate();
    let key = issuer_key(&keys, &runtime);
    let inputs = signed_inputs(&keys);
    let mut group = c.benchmark_group("verify_batch");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("single", |b| {
        b.iter(|| {
            let (message, signature) = &inputs[next % TOKENS];
            next += 1;
            assert!(key.verifies(black_box(message), black_box(signature)));
        });
    });
    for n in BATCH_SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let mut next = 0;
        group.bench_function(n.to_string(), |b| {
            b.iter(|| {
                let start = next % (TOKENS - n);
                next += n;
                let batch = inputs[start..start + n]
                    .iter()
                    .map(|(message, signature)| (&key, &message[..], &signature[..]));
                assert!(batch_verifies(black_box(batch)));
            });
        });
    }
    group.finish();
}

fn verify_batched_requests(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = support::Keys::generate();
    let verifier = keys.verifier(&runtime);
    let tokens: Vec<String> = (0..TOKENS)
        .map(|i| keys.token(&format!("users/42/files/{i}.pdf")))
        .collect();
    let mut group = c.benchmark_group("verify_batched_requests");
    for n in BATCH_SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async {
            download_server::verify::enable_batching_on_this_thread(
                64,
                std::sync::Arc::new(download_server::metrics::Metrics::new()),
            );
        });
        let mut next = 0;
        group.bench_function(n.to_string(), |b| {
            b.iter(|| {
                let start = next % (TOKENS - n);
                next += n;
                let batch = &tokens[start..start + n];
                local.block_on(&runtime, async {
                    let all = batch.iter().map(|token| verifier.verify(token));
                    for verified in futures_util::future::join_all(all).await {
                        verified.expect("valid");
                    }
                });
            });
        });
    }
    download_server::verify::enable_batching_on_this_thread(
        1,
        std::sync::Arc::new(download_server::metrics::Metrics::new()),
    );
    group.finish();
}

criterion_group!(benches, verify, verify_batch, verify_batched_requests);
criterion_main!(benches);
